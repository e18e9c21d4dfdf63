"""Evaluate a model on a loader: decode, compute WER with S/D/I, keep the hypotheses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .data.dataset import Batch
from .data.vocab import Vocab
from .decode import decode
from .faults import maybe_fail
from .metrics import WERResult, wer
from .models.network import SLROutput


@dataclass
class EvalResult:
    wer: WERResult
    hyps: dict[str, list[str]]
    refs: dict[str, list[str]]
    decoder: str

    def to_dict(self) -> dict:
        return {**self.wer.to_dict(), "decoder": self.decoder, "n_utterances": len(self.refs)}


@torch.no_grad()
def evaluate(
    predict: Callable[[Batch], SLROutput],
    loader,
    vocab: Vocab,
    device,
    decoder: str = "greedy",
    beam_width: int = 10,
) -> EvalResult:
    """Run `predict` over `loader` and score the decoded glosses against the references."""
    hyps, refs = {}, {}
    for batch in loader:
        maybe_fail("evaluate_batch")
        out = predict(batch.to(device))
        log_probs = out.logits.float().log_softmax(-1).cpu()
        for vid, ids, ref in zip(
            batch.ids,
            decode(log_probs, out.lengths.cpu(), decoder, beam_width),
            batch.glosses,
            strict=True,
        ):
            hyps[vid] = vocab.decode(ids)
            refs[vid] = list(ref)
    order = sorted(refs)
    result = wer([refs[k] for k in order], [hyps[k] for k in order])
    return EvalResult(result, hyps, refs, decoder if decoder == "greedy" else f"beam{beam_width}")
