"""CTC loss: L_CTC = -log p(y | x), summed over alignments (Graves et al., 2006).

The wrapper is the only place where (B, T, V) becomes the (T, B, V) layout that
`torch.nn.functional.ctc_loss` wants. The loss is averaged over the batch ('mean' divides each
clip's loss by its target length first, as torch does).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.network import SLROutput


class CTCLoss(nn.Module):
    name = "CTC"

    def __init__(self, blank: int = 0, zero_infinity: bool = False):
        super().__init__()
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(
        self, out: SLROutput, targets: torch.Tensor, target_lengths: torch.Tensor
    ) -> torch.Tensor:
        log_probs = out.logits.float().log_softmax(-1).transpose(0, 1)  # (B,T,V) -> (T,B,V)
        return F.ctc_loss(
            log_probs,
            targets,
            out.lengths,
            target_lengths,
            blank=self.blank,
            reduction="mean",
            zero_infinity=self.zero_infinity,
        )

    def __str__(self) -> str:
        return "CTC"


class VisualCTCLoss(CTCLoss):
    """CTC on `features["visual_logits"]`, the head's classifier before its BiLSTM (VAC's
    visual alignment constraint, Min et al., ICCV 2021). It trains the frame trunk on local
    evidence; the BiLSTM's logits stay the model's output."""

    name = "visual CTC"

    def forward(
        self, out: SLROutput, targets: torch.Tensor, target_lengths: torch.Tensor
    ) -> torch.Tensor:
        visual = SLROutput(out.features["visual_logits"], out.lengths)
        return super().forward(visual, targets, target_lengths)

    def __str__(self) -> str:
        return "CTC_visual"


def ctc_min_length(targets: list[int]) -> int:
    """Fewest output frames CTC needs for a label: its length plus one blank per repeat."""
    repeats = sum(1 for a, b in zip(targets, targets[1:], strict=False) if a == b)
    return len(targets) + repeats
