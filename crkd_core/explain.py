"""What the models look at, and where they go wrong: captum attribution and gloss confusions.

Attribution targets (a scalar per clip, for captum):

- `ctc`: the whole reference, as the negative CTC loss  -L_CTC(log p(. | x), reference);
- `gloss`: one gloss g, as  log sum_t p_t(g)  over the clip's output frames (the log of the
  probability mass the model gives g anywhere in the clip; smooth, and dominated by the frames
  where g is likely).

Input attribution is IntegratedGradients (baseline: a mid-grey clip, zeros in [-1, 1]) or
Saliency on the frames; spatial attribution is LayerGradCam on the trunk's output, the
frame-level map `features["frame_map"]` of shape (T, C, h, w). Teacher and LRINet maps are
compared after upsampling both to the larger map size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import load_model, meta_view, meta_vocab
from .data.corpus import open_dataset
from .data.frames import read_entry
from .data.transforms import make_views
from .errors import ConfigError
from .heatmaps import upsample
from .metrics import top_confusions
from .models.network import SLRNet


# -- targets -----------------------------------------------------------------------------------
class TargetModel(torch.nn.Module):
    """`forward(video (B, T, 3, H, W)) -> (B,)`: the attribution target of each clip."""

    def __init__(self, model: SLRNet, lengths: torch.Tensor, target: str, labels: Sequence[int]):
        super().__init__()
        if target not in ("ctc", "gloss") or not labels:
            raise ConfigError(f"target must be ctc|gloss with at least one label, not {target!r}")
        self.model, self.target = model, target
        self.register_buffer("lengths", lengths, persistent=False)
        self.register_buffer("labels", torch.tensor(list(labels)), persistent=False)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b = video.shape[0]
        out = self.model(video, self.lengths.expand(b))
        log_probs = out.logits.log_softmax(-1)  # (B, T', V)
        if self.target == "gloss":
            return _gloss_score(log_probs, out.lengths, int(self.labels[0]))
        targets = self.labels.expand(b, -1)
        loss = F.ctc_loss(
            log_probs.transpose(0, 1),
            targets,
            out.lengths,
            torch.full((b,), targets.shape[1]),
            reduction="none",
            zero_infinity=True,
        )
        return -loss


def _gloss_score(log_probs: torch.Tensor, lengths: torch.Tensor, gloss: int) -> torch.Tensor:
    """log sum_t p_t(gloss) over each clip's valid output frames: (B, T', V) -> (B,)."""
    t = torch.arange(log_probs.shape[1])[None, :]
    scores = log_probs[..., gloss].masked_fill(t >= lengths[:, None], float("-inf"))
    return scores.logsumexp(dim=1)


# -- attribution -------------------------------------------------------------------------------
@dataclass
class Attribution:
    """One model's attribution of one clip."""

    name: str
    input_size: int
    score: float  # the target's value
    temporal: np.ndarray  # (T,) share of |input attribution| per frame, sums to 1
    cam: np.ndarray  # (T, h, w) Grad-CAM on the frame map, ReLU'd, >= 0
    frames: np.ndarray  # (T, S, S, 3) uint8: the input the model saw


def attribute(
    model: SLRNet,
    video: torch.Tensor,
    target: str,
    labels: Sequence[int],
    method: str = "ig",
    steps: int = 32,
    name: str = "",
) -> Attribution:
    """Input attribution (IG or Saliency) and Grad-CAM of one clip (1, T, 3, S, S)."""
    from captum.attr import IntegratedGradients, LayerGradCam, Saliency

    model.eval()
    lengths = torch.tensor([video.shape[1]])
    fn = TargetModel(model, lengths, target, labels).eval()
    if method == "ig":
        attr = IntegratedGradients(fn).attribute(
            video, torch.zeros_like(video), n_steps=steps, internal_batch_size=min(steps, 16)
        )
    elif method == "saliency":
        attr = Saliency(fn).attribute(video, abs=True)
    else:
        raise ConfigError(f"method must be ig or saliency, not {method!r}")
    cam = LayerGradCam(fn, model.trunk).attribute(video, relu_attributions=True)  # (T, 1, h, w)
    with torch.no_grad():
        score = float(fn(video)[0])
    per_frame = attr.detach().abs().sum(dim=(2, 3, 4))[0]  # (1, T, 3, S, S) -> (T,)
    temporal = (per_frame / per_frame.sum().clamp_min(1e-12)).numpy()
    return Attribution(
        name=name,
        input_size=video.shape[-1],
        score=score,
        temporal=temporal,
        cam=cam.detach()[:, 0].numpy(),
        frames=to_uint8(video[0].detach()),
    )


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(T, 3, S, S) float in [-1, 1] -> (T, S, S, 3) uint8, for display."""
    return ((x.permute(0, 2, 3, 1) + 1) * 127.5).clamp(0, 255).round().byte().numpy()


def clip_views(data, split: str, vid: str, spec):
    """(corpus entry, `Views`) of one video, centre-cropped as at test time."""

    entries = [e for e in open_dataset(data).read_split(split) if e.id == vid]
    if not entries:
        raise ConfigError(f"no video {vid!r} in split {split!r} of {data}")
    return entries[0], make_views(read_entry(entries[0], spec.pre_size), spec, train=False)


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of a 1-D array, ties given their mean rank (as Spearman's rho needs)."""
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x), dtype=np.float64)
    r[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=r)
    return (sums / counts)[inverse]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long arrays (nan when one is constant)."""
    ra, rb = ranks(a.ravel()), ranks(b.ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.linalg.norm(ra) * np.linalg.norm(rb)
    return float(ra @ rb / denom) if denom > 0 else float("nan")


def similarity(a: Attribution, b: Attribution) -> dict[str, float]:
    """How alike two models' attributions of the same clip are.

    Grad-CAM maps are upsampled to the larger of the two map sizes and compared over all frames
    (cosine and Spearman); the temporal profiles are compared with Spearman.
    """
    size = max(a.cam.shape[-1], b.cam.shape[-1])
    ca, cb = upsample(a.cam, size), upsample(b.cam, size)
    return {
        "gradcam_cosine": cosine(ca, cb),
        "gradcam_spearman": spearman(ca, cb),
        "temporal_spearman": spearman(a.temporal, b.temporal),
        "map_size": size,
    }


def top_frames(attrs: Sequence[Attribution], k: int) -> list[int]:
    """The `k` frames with the most attribution summed over models, in temporal order."""
    total = sum(a.temporal for a in attrs)
    return sorted(np.argsort(-total, kind="mergesort")[:k].tolist())


@dataclass
class SentenceAttribution:
    """Teacher and LRINet attributions of one test sentence, and how alike they are."""

    id: str
    glosses: tuple[str, ...]
    target: str  # in words: "-CTC(reference)" or "log sum_t p_t(GLOSS)"
    teacher: Attribution
    student: Attribution
    similarity: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "glosses": list(self.glosses),
            "target": self.target,
            "teacher_score": self.teacher.score,
            "student_score": self.student.score,
            **self.similarity,
        }


def explain_sentence(
    teacher_run,
    student_run,
    data,
    vid: str,
    target: str = "ctc",
    gloss: str | None = None,
    method: str = "ig",
    steps: int = 32,
    split: str = "test",
) -> SentenceAttribution:
    """Attribute one sentence for a teacher run and an LRINet run (same crop, own sizes)."""

    teacher, _ = load_model(teacher_run)
    student, smeta = load_model(student_run)
    spec = meta_view(smeta)  # the student's spec holds both sizes
    entry, views = clip_views(data, split, vid, spec)
    chosen = [gloss or entry.glosses[0]] if target == "gloss" else list(entry.glosses)
    labels = meta_vocab(smeta, Path(student_run)).encode(chosen, f"{split}/{vid}")
    what = "-CTC(reference)" if target == "ctc" else f"log sum_t p_t({chosen[0]})"
    how = {"target": target, "labels": labels, "method": method, "steps": steps}
    t = attribute(model=teacher, video=views.teacher[None], name="Teacher", **how)
    s = attribute(model=student, video=views.student[None], name="LRINet + CRKD", **how)
    return SentenceAttribution(
        id=vid,
        glosses=entry.glosses,
        target=what,
        teacher=t,
        student=s,
        similarity=similarity(t, s),
    )


# -- confusions --------------------------------------------------------------------------------
def confusions(refs, hyps, groups: dict[str, tuple] | None = None, k: int = 15):
    """The most frequent substitutions, with whether the pair differs only in handshape.

    Args:
        refs, hyps: token sequences, one per utterance.
        groups: gloss -> coarse parameters (SignWorld's `gloss_groups`); pairs in the same group
            look alike at low resolution.
        k: how many pairs.
    """
    import pandas as pd

    rows = [
        {
            "reference": c.ref,
            "hypothesis": c.hyp,
            "count": c.count,
            "handshape only": bool(groups)
            and groups.get(c.ref) == groups.get(c.hyp)
            and c.ref in groups,
        }
        for c in top_confusions(refs, hyps, k)
    ]
    return pd.DataFrame(rows, columns=["reference", "hypothesis", "count", "handshape only"])
