"""Small fixture-tree writers shared by the tests."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_phoenix(
    root: Path, rows: dict, size=(20, 20), frames=12, header="id|folder|signer|annotation"
) -> Path:
    """A PHOENIX-2014-layout tree with random RGB frames; rows = {split: [(id, glosses)]}."""
    ann = root / "annotations" / "manual"
    ann.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        lines = [header]
        for vid, glosses in split_rows:
            lines.append(f"{vid}|{vid}/1/*.png|S1|{glosses}")
            d = root / "features" / f"fullFrame-{size[0]}x{size[1]}px" / split / vid / "1"
            d.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(len(vid))
            for i in range(frames):
                px = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(px).save(d / f"{vid}_fn{i:06d}-0.png")
        (ann / f"{split}.corpus.csv").write_text("\n".join(lines) + "\n", "utf-8")
    return root


def frame_dir(root: Path, split: str, vid: str) -> Path:
    return next((root / "features").glob(f"*/{split}/{vid}/1"))


def top1_margin(logits, lengths=None) -> float:
    """The smallest gap, over (valid) frames, between the best and second-best log-probability
    of (T, V) or, with `lengths`, (B, T, V) logits. A transcript is compared only where this
    exceeds the float noise between kernel sets (issue 21)."""
    top = logits.log_softmax(-1).topk(2, -1).values
    gap = top[..., 0] - top[..., 1]
    if lengths is None:
        return float(gap.min())
    return min(float(gap[i, :n].min()) for i, n in enumerate(lengths.tolist()))
