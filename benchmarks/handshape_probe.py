"""Handshape probe: can a frame trunk read the gloss from ONE SignWorld frame, at each resolution?

Not a test: a measurement for SignWorld's calibration (issue "CRKD end to end"). Single frames in
the middle of a sign are drawn straight from the generator, with random signers, placements and
noise, and made into both views exactly as training does (`make_views`). A fresh trunk of the
preset (teacher at its size, LRINet at its size) with a linear classifier is trained on them with
frame-level cross-entropy, which is far easier than CTC: it shows what each resolution *can* read.

Group accuracy (the right location, movement, hands and orientation) is high at any resolution;
gloss accuracy within the group is the handshape. Chance within a group is about 1 in 3.7.

    python benchmarks/handshape_probe.py --json benchmarks/results/handshape-probe.json

Optionally `--teacher-run RUN` also fits a linear classifier on the frozen trunk of a trained
teacher, to see whether CTC training taught that trunk handshapes.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from crkd_core.checkpoint import load_model
from crkd_core.data.signworld.motion import SignInstance
from crkd_core.data.signworld.phonology import build_gloss_table
from crkd_core.data.signworld.render import make_scene, render_frame
from crkd_core.data.signworld.signer import sample_signer
from crkd_core.data.transforms import ViewSpec, make_views
from crkd_core.io import atomic_write_json
from crkd_core.models.layers import Neighbours
from crkd_core.models.network import FrameTrunk
from crkd_core.models.presets import PRESETS, build_student_config

TABLE = build_gloss_table()
GROUPS = torch.tensor([g.group for g in TABLE])


def draw_frames(n: int, seed: int, pool: list, preset) -> tuple[dict, torch.Tensor]:
    """`n` mid-sign frames (96 px, as `crkd synth` draws them) by the signers of `pool` -> both
    views and gloss labels."""
    rng = np.random.default_rng(seed)
    signers = len(pool)
    frames, labels = [], []
    for _ in range(n):
        g = int(rng.integers(len(TABLE)))
        scene = make_scene(pool[int(rng.integers(signers))], 96, rng)
        sign = SignInstance(
            TABLE[g],
            6,
            dx=rng.normal(0, 1.0),
            dy=rng.normal(0, 1.0),
            amplitude=rng.uniform(0.85, 1.15),
            tilt=rng.normal(0, 4.0),
        )
        frame = render_frame(scene, sign.pose(rng.uniform(0.1, 0.9)), noise_rng=rng)
        size = preset.pre_size
        frames.append(np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR)))
        labels.append(g)
    spec = ViewSpec(preset.pre_size, preset.teacher.input_size, preset.student_size, flip=False)
    views = make_views(np.stack(frames), spec, train=False)
    return {"teacher": views.teacher, "student": views.student}, torch.tensor(labels)


def pooled(trunk: nn.Module, x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Per-frame vectors: each frame is its own clip of length 1."""
    out = []
    for k in range(0, len(x), chunk):
        part = x[k : k + chunk]
        nb = Neighbours.from_lengths(torch.ones(len(part), dtype=torch.long))
        out.append(trunk(part, nb).mean((2, 3)))
    return torch.cat(out)


def scores(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    pred = logits.argmax(1)
    return {
        "gloss_acc": round((pred == labels).float().mean().item(), 4),
        "group_acc": round((GROUPS[pred] == GROUPS[labels]).float().mean().item(), 4),
    }


def train_probe(trunk, channels, train, test, epochs: int, seed: int) -> list[dict]:
    """Trunk + linear classifier with cross-entropy; test scores after each epoch."""
    torch.manual_seed(seed)
    head = nn.Linear(channels, len(TABLE))
    params = [p for p in [*trunk.parameters(), *head.parameters()] if p.requires_grad]
    opt = torch.optim.Adam(params, 1e-3)
    (xtr, ytr), (xte, yte) = train, test
    history = []
    for epoch in range(epochs):
        trunk.train()
        for idx in torch.randperm(len(xtr)).split(32):
            loss = nn.functional.cross_entropy(head(pooled(trunk, xtr[idx])), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        trunk.eval()
        with torch.no_grad():
            history.append({"epoch": epoch + 1, **scores(head(pooled(trunk, xte)), yte)})
        print(f"  epoch {epoch + 1}: {history[-1]}", flush=True)
    return history


def linear_on_frozen(trunk, train, test, steps: int = 500) -> dict:
    """A linear classifier on a frozen trunk's standardised features."""
    trunk.eval()
    with torch.no_grad():
        ftr, fte = pooled(trunk, train[0]), pooled(trunk, test[0])
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-5
    ftr, fte = (ftr - mu) / sd, (fte - mu) / sd
    head = nn.Linear(ftr.shape[1], len(TABLE))
    opt = torch.optim.Adam(head.parameters(), 1e-2)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(head(ftr), train[1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return scores(head(fte), test[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu", choices=PRESETS.names())
    ap.add_argument("--train-frames", type=int, default=3000)
    ap.add_argument("--test-frames", type=int, default=600)
    ap.add_argument("--signers", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--views", nargs="+", default=["teacher", "student"])
    ap.add_argument("--teacher-run", type=Path, help="also probe this trained teacher's trunk")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    preset = PRESETS.get(args.preset)
    t0 = time.perf_counter()
    # train and test frames share their signers, as SignWorld's train, dev and test do
    signers = range(1, args.signers + 1)  # 1-based, as Signer01..
    pool = [sample_signer(np.random.default_rng([args.seed, i]), i) for i in signers]
    train_views, ytr = draw_frames(args.train_frames, args.seed * 2 + 1, pool, preset)
    test_views, yte = draw_frames(args.test_frames, args.seed * 2 + 2, pool, preset)
    print(
        f"drew {args.train_frames} + {args.test_frames} frames in {time.perf_counter() - t0:.0f} s"
    )
    counts = Counter(ytr.tolist())
    result = {
        "preset": args.preset,
        "train_frames": args.train_frames,
        "test_frames": args.test_frames,
        "signers": args.signers,
        "seed": args.seed,
        "epochs": args.epochs,
        "majority_within_group": majority_within_group(counts, yte),
        "probes": {},
    }
    trunks = {"teacher": preset.teacher.trunk, "student": build_student_config(preset).trunk}
    sizes = {"teacher": preset.teacher.input_size, "student": preset.student_size}
    for view in args.views:
        print(f"{view} view, {sizes[view]} px: fresh trunk, frame-level cross-entropy")
        trunk = FrameTrunk(trunks[view])
        history = train_probe(
            trunk,
            channels=trunks[view].channels,
            train=(train_views[view], ytr),
            test=(test_views[view], yte),
            epochs=args.epochs,
            seed=args.seed,
        )
        best = max(history, key=lambda h: h["gloss_acc"])
        result["probes"][view] = {
            "size": sizes[view],
            "final": history[-1],
            "best": best,
            "history": history,
        }
    if args.teacher_run:
        model, _ = load_model(args.teacher_run)
        frozen = linear_on_frozen(
            model.trunk, (train_views["teacher"], ytr), (test_views["teacher"], yte)
        )
        result["frozen_teacher"] = {"run": str(args.teacher_run), **frozen}
        print(f"frozen trunk of {args.teacher_run}: {frozen}")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({k: v for k, v in result.items() if k != "probes"}, indent=1))
    for view, p in result["probes"].items():
        print(f"{view} ({p['size']} px): final {p['final']}, best {p['best']}")
    if args.json:
        atomic_write_json(args.json, result)


def majority_within_group(train_counts: Counter, test_labels: torch.Tensor) -> float:
    """Gloss accuracy of always answering the group's most frequent training gloss."""
    best = {}
    for g, spec in enumerate(TABLE):
        top = best.get(spec.group)
        if top is None or train_counts[g] > train_counts[top]:
            best[spec.group] = g
    pred = torch.tensor([best[TABLE[y].group] for y in test_labels.tolist()])
    return round((pred == test_labels).float().mean().item(), 4)


if __name__ == "__main__":
    main()
