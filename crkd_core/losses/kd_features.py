"""Frame-level feature distillation: MSE between the student's and the teacher's frame maps.

    L_feat = mean over valid frames, channels and positions of (F_s - F_t)^2

`scale` (CRKD, paper): the student's map already has the teacher's shape (h, w, C), so the two
are compared directly. `recover` (ResKD, arXiv 2209.12797, as a baseline): the student's
smaller map is upsampled bilinearly to the teacher's size first. Maps are packed valid frames
(N, C, h, w), so padding never enters the loss. As the KD term `feature`: its mode is LRINet's
variant, default weight 10 (the paper's alpha is 1..100).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.network import SLROutput
from .registry import kd_term


class FeatureKD(nn.Module):
    def __init__(self, mode: str = "scale", feature: str = "frame_map"):
        super().__init__()
        if mode not in ("scale", "recover"):
            raise ConfigError(f"feature KD mode must be 'scale' or 'recover', not {mode!r}")
        self.mode = mode
        self.feature = feature
        self.name = f"MSE({feature},{mode})"

    def forward(self, student: SLROutput, teacher: SLROutput) -> torch.Tensor:
        fs, ft = student.features[self.feature], teacher.features[self.feature].detach()
        if fs.shape[1] != ft.shape[1]:
            raise ConfigError(
                f"{self.feature}: student has {fs.shape[1]} channels, teacher "
                f"{ft.shape[1]}; they must match"
            )
        if fs.shape[-2:] != ft.shape[-2:]:
            if self.mode == "scale":
                raise ConfigError(
                    f"{self.feature}: scale KD needs equal maps, got student "
                    f"{tuple(fs.shape[-2:])} and teacher {tuple(ft.shape[-2:])}"
                )
            fs = F.interpolate(fs, size=ft.shape[-2:], mode="bilinear", align_corners=False)
        return F.mse_loss(fs.float(), ft.float())

    def __str__(self) -> str:
        return self.name


@kd_term("feature", key="kd_feat", weight=10.0)
def feature_term(variant: str) -> FeatureKD:
    """Feature KD at LRINet's variant: `scale` compares the maps, `recover` upsamples first."""
    return FeatureKD(variant)
