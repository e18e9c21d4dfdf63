"""Logit (classification-feature) distillation on per-frame posteriors (Hinton et al., 2015).

    L_logit = T^2 * mean over valid frames of KL( softmax(z_t / T) || softmax(z_s / T) )

The T^2 factor keeps gradient magnitudes comparable across temperatures. Frames past each
clip's output length are masked out. As the KD term `logit`: option T (8, CRKD's starting value),
default weight 25 (the paper's beta).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.network import SLROutput
from .registry import kd_term


class LogitKD(nn.Module):
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
        log_ps = (student.logits.float() / self.t).log_softmax(-1)
        log_pt = (teacher.logits.detach().float() / self.t).log_softmax(-1)
        kl = F.kl_div(log_ps, log_pt, reduction="none", log_target=True).sum(-1)  # (B, T')
        t_len = student.logits.shape[1]
        mask = torch.arange(t_len, device=kl.device)[None, :] < student.lengths[:, None]
        return self.t**2 * (kl * mask).sum() / mask.sum().clamp_min(1)

    def __str__(self) -> str:
        return self.name


@kd_term("logit", key="kd_logit", weight=25.0, T=8.0)
def logit_term(variant: str, T: float) -> LogitKD:
    return LogitKD(T)
