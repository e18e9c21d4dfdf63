"""Logit (classification-feature) distillation on per-frame posteriors (Hinton et al., 2015).

    L_logit = T^2 * mean over valid frames of KL( softmax(z_t / T) || softmax(z_s / T) )

The T^2 factor keeps gradient magnitudes comparable across temperatures. Frames past each
clip's output length are masked out. As the KD term `logit`: option T (8, CRKD's starting value),
default weight 25 (the paper's beta).

`logit-gloss` leaves the CTC blank out. A CTC teacher spends most frames on the blank, so the
plain term mostly teaches "say nothing here". This one takes the KL over the glosses alone
(both softmaxes over classes 1.., the blank's column dropped), on the frames where the teacher's
most likely class is a gloss. Option T (default 2: the gloss posteriors are already spread).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.vocab import BLANK_INDEX
from ..errors import ConfigError
from ..models.network import SLROutput
from .registry import kd_term


class LogitKD(nn.Module):
    glosses_only = False  # LogitKD without the blank: `GlossLogitKD`

    def __init__(self, temperature: float = 8.0):
        super().__init__()
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, not {temperature}")
        self.t = float(temperature)
        self.name = f"T^2*KL(T={self.t:g})"

    def forward(self, student: SLROutput, teacher: SLROutput) -> torch.Tensor:
        if student.logits.shape != teacher.logits.shape:
            raise ConfigError(
                f"logit KD needs equal logit shapes, got student "
                f"{tuple(student.logits.shape)} and teacher {tuple(teacher.logits.shape)}"
            )
        zs, zt = student.logits.float(), teacher.logits.detach().float()
        t_len = zs.shape[1]
        mask = torch.arange(t_len, device=zs.device)[None, :] < student.lengths[:, None]
        if self.glosses_only:  # the teacher's gloss frames, the blank's column dropped
            mask = mask & (zt.argmax(-1) != BLANK_INDEX)
            zs, zt = zs[..., BLANK_INDEX + 1 :], zt[..., BLANK_INDEX + 1 :]
        log_ps = (zs / self.t).log_softmax(-1)
        log_pt = (zt / self.t).log_softmax(-1)
        kl = F.kl_div(log_ps, log_pt, reduction="none", log_target=True).sum(-1)  # (B, T')
        return self.t**2 * (kl * mask).sum() / mask.sum().clamp_min(1)

    def __str__(self) -> str:
        return self.name


class GlossLogitKD(LogitKD):
    """Logit KD over the glosses alone, on the teacher's gloss frames (the module docstring)."""

    glosses_only = True

    def __init__(self, temperature: float = 2.0):
        super().__init__(temperature)
        self.name = f"T^2*KL_gloss(T={self.t:g})"


@kd_term("logit", key="kd_logit", weight=25.0, T=8.0)
def logit_term(variant: str, T: float) -> LogitKD:
    return LogitKD(T)


@kd_term("logit-gloss", key="kd_logit_gloss", weight=5.0, T=2.0)
def gloss_logit_term(variant: str, T: float) -> GlossLogitKD:
    return GlossLogitKD(T)
