"""Training tasks: what one step computes. The trainer knows nothing of KD.

`CTCTask` trains one network with CTC on one view (the teacher on high resolution, or a
student without KD). `Distiller` holds a frozen teacher and LRINet and returns the named terms
of  L = CTC + alpha * feature-KD + beta * T^2 * KL  (CRKD, arXiv 2303.06820: frame-level and
classification features are distilled separately; the teacher is locked).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .data.dataset import Batch
from .errors import ConfigError
from .losses import CTCLoss, FeatureKD, LogitKD, LossTerm, VisualCTCLoss, WeightedLoss
from .models.network import SLRNet, SLROutput
from .teacher_cache import TeacherCache

KD_MODES = ("none", "feature", "logit", "both")


def kd_terms(kd: str, alpha: float, beta: float) -> tuple[float, float]:
    """The feature- and logit-KD weights in effect: a term that `kd` leaves out weighs 0."""
    return (alpha if kd in ("feature", "both") else 0.0, beta if kd in ("logit", "both") else 0.0)


class CTCTask(nn.Module):
    """Train `model` with CTC on the batch's teacher view or student view."""

    def __init__(self, model: SLRNet, view: str = "teacher"):
        super().__init__()
        if view not in ("teacher", "student"):
            raise ConfigError(f"view must be 'teacher' or 'student', not {view!r}")
        self.model = model
        self.view = view
        self.loss = WeightedLoss([LossTerm("ctc", 1.0, CTCLoss()), *visual_terms(model)])

    def inputs(self, batch: Batch) -> torch.Tensor:
        x = batch.video if self.view == "teacher" else batch.student_video
        if x is None:
            raise ConfigError("the batch has no student view; set ViewSpec.student_size")
        return x

    def predict(self, batch: Batch) -> SLROutput:
        return self.model(self.inputs(batch), batch.video_lengths)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        out = self.predict(batch)
        args = (out, batch.targets, batch.target_lengths)
        return self.loss({"ctc": args, "ctc_visual": args})

    def describe(self) -> str:
        return str(self.loss)


def visual_terms(model: SLRNet) -> list[LossTerm]:
    """The auxiliary visual CTC term when the model's head has one (see `HeadConfig`)."""
    weight = model.cfg.head.visual_ctc
    return [LossTerm("ctc_visual", weight, VisualCTCLoss())] if weight > 0 else []


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class Distiller(CTCTask):
    """LRINet on the student view, taught by a frozen teacher on the teacher view."""

    def __init__(
        self,
        student: SLRNet,
        teacher: SLRNet | None,
        kd: str = "both",
        feature_kd: str = "scale",
        alpha: float = 10.0,
        beta: float = 25.0,
        temperature: float = 8.0,
        teacher_cache: Path | None = None,
    ):
        super().__init__(student, view="student")
        if kd not in KD_MODES:
            raise ConfigError(f"--kd must be one of {KD_MODES}, not {kd!r}")
        if kd != "none" and teacher is None:
            raise ConfigError(f"--kd {kd} needs a teacher")
        self.kd = kd
        # A plain attribute, not a submodule: the teacher is not part of the student's
        # state_dict, parameters or train() mode.
        self.__dict__["teacher"] = freeze(teacher) if teacher is not None else None
        # the teacher's outputs, read back where another student of the seed computed them
        self.teacher_cache = (
            TeacherCache(teacher_cache, self.teacher)
            if teacher_cache is not None and kd != "none"
            else None
        )
        alpha, beta = kd_terms(kd, alpha, beta)
        self.loss = WeightedLoss(
            [
                LossTerm("ctc", 1.0, CTCLoss()),
                *visual_terms(student),
                LossTerm("kd_feat", alpha, FeatureKD(feature_kd)),
                LossTerm("kd_logit", beta, LogitKD(temperature)),
            ]
        )

    def to(self, *args, **kwargs):
        if self.teacher is not None:
            self.teacher.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        student = self.predict(batch)
        args = (student, batch.targets, batch.target_lengths)
        inputs = {"ctc": args, "ctc_visual": args}
        if self.kd != "none":
            with torch.no_grad():
                teach = self.teacher_cache or self.teacher
                teacher = teach(batch.video, batch.video_lengths)
            inputs["kd_feat"] = (student, teacher)
            inputs["kd_logit"] = (student, teacher)
        return self.loss(inputs)
