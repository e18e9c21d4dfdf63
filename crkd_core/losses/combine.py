"""A weighted sum of named loss terms that prints its own formula (after torchdistill).

L = sum_i w_i * L_i       e.g.  L = 1*CTC + 25*T^2*KL(T=8) + 10*MSE(frame_map,scale)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class LossTerm:
    key: str  # name in logs and metrics: "ctc", "kd_feat", "kd_logit"
    weight: float
    fn: Callable[..., torch.Tensor]


class WeightedLoss:
    def __init__(self, terms: list[LossTerm]):
        self.terms = [t for t in terms if t.weight != 0]

    def __call__(self, inputs: dict[str, tuple]) -> dict[str, torch.Tensor]:
        """inputs[key] holds the arguments of that term; returns each term and 'total'."""
        out = {t.key: t.fn(*inputs[t.key]) for t in self.terms}
        out["total"] = sum(t.weight * out[t.key] for t in self.terms)
        return out

    def __str__(self) -> str:
        return "L = " + " + ".join(f"{t.weight:g}*{t.fn}" for t in self.terms)
