"""Training tasks: what one step computes. The trainer knows nothing of KD.

`CTCTask` trains one network with CTC on one view (the teacher on high resolution, or a
student without KD). `Distiller` holds a frozen teacher and LRINet and returns the named terms
of  L = CTC + sum_i w_i * KD_i,  one KD term per entry of the run's KD (`losses.KD_TERMS`; CRKD,
arXiv 2303.06820, distils frame-level and classification features separately, and locks the
teacher).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from .data.dataset import Batch
from .errors import ConfigError
from .losses import KD_TERMS, CTCLoss, LossTerm, VisualCTCLoss, WeightedLoss
from .losses.registry import resolve_kd
from .models.network import SLRNet, SLROutput
from .precision import autocast_dtype
from .teacher_cache import TeacherCache


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

    def to_channels_last(self) -> CTCTask:
        self.model.to_channels_last()
        return self

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
    """LRINet on the student view, taught by a frozen teacher on the teacher view.

    `kd` is the run's KD: a mode name, a `--kd` term list or a mapping of terms (see
    `losses.registry`). `variant` is LRINet's (scale | recover; None: the student's own), which
    a term such as feature KD follows. `legacy` takes the old spellings alpha, beta and
    temperature.
    """

    def __init__(
        self,
        student: SLRNet,
        teacher: SLRNet | None,
        kd: str | Mapping = "both",
        variant: str | None = None,
        teacher_cache: Path | None = None,
        teacher_amp: str = "none",
        **legacy: float,
    ):
        super().__init__(student, view="student")
        self.kd_terms = resolve_kd(kd, legacy, weights={})
        if self.kd_terms and teacher is None:
            raise ConfigError(f"KD ({', '.join(self.kd_terms)}) needs a teacher")
        # A plain attribute, not a submodule: the teacher is not part of the student's
        # state_dict, parameters or train() mode.
        self.__dict__["teacher"] = freeze(teacher) if teacher is not None else None
        # the teacher's outputs, read back where another student of the seed computed them
        self.teacher_cache = (
            TeacherCache(teacher_cache, self.teacher)
            if teacher_cache is not None and self.kd_terms
            else None
        )
        # the frozen teacher's autocast precision (`precision.resolve_teacher_amp`)
        self.teacher_dtype = autocast_dtype(teacher_amp)
        variant = variant or student.cfg.variant
        kd_losses = []
        for name, values in self.kd_terms.items():
            term = KD_TERMS.get(name)
            options = {k: v for k, v in values.items() if k != "weight"}
            kd_losses.append(LossTerm(term.key, values["weight"], term.build(variant, **options)))
        self.loss = WeightedLoss(
            [LossTerm("ctc", 1.0, CTCLoss()), *visual_terms(student), *kd_losses]
        )

    def to(self, *args, **kwargs):
        if self.teacher is not None:
            self.teacher.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def to_channels_last(self) -> Distiller:
        if self.teacher is not None:
            self.teacher.to_channels_last()
        return super().to_channels_last()

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        student = self.predict(batch)
        args = (student, batch.targets, batch.target_lengths)
        inputs = {"ctc": args, "ctc_visual": args}
        if self.kd_terms:
            device = batch.video.device.type
            precision = torch.autocast(device, self.teacher_dtype, self.teacher_dtype is not None)
            with torch.no_grad(), precision:
                teach = self.teacher_cache or self.teacher
                teacher = teach(batch.video, batch.video_lengths)
            for name in self.kd_terms:  # every KD term compares the student with the teacher
                inputs[KD_TERMS.get(name).key] = (student, teacher)
        return self.loss(inputs)
