"""CTC decoding: greedy, prefix beam search, and brute force (for tests). Blank is id 0.

A CTC path a_1..a_T (one label per frame, blank included) collapses to a label sequence by
merging repeats and then dropping blanks (B(A A _ B) = A B, B(A _ A) = A A). The probability of a
label sequence y is the sum over the paths that collapse to it:

    p(y | x) = sum_{a : B(a) = y} prod_t p_t(a_t)

- Greedy decoding takes the best path (argmax per frame) and collapses it.
- Prefix beam search (Hannun et al., 2014, "First-pass large vocabulary continuous speech
  recognition using bi-directional recurrent DNNs"; also Graves, 2012, ch. 7) keeps, for each
  prefix, the log-probability of the paths ending in a blank and of those ending in its last
  label, and keeps the `beam_width` best prefixes after each frame. Without pruning and with a
  wide enough beam it is exact, which the tests check against the brute force. Each frame is
  one numpy step over all (prefix, new label) pairs; prefixes are nodes of a prefix tree, and
  only the `top_k` likeliest labels of a frame (above `min_logp`) may start a new label.

No language model is used, as in the published CSLR results we compare against.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ConfigError

BLANK = 0
NEG_INF = float("-inf")


def _check_inputs(log_probs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Validate shapes; return the (B, T, V) tensor (detached, on CPU) and python lengths."""
    log_probs = torch.as_tensor(log_probs)
    lengths = torch.as_tensor(lengths)
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (B, T, V), got shape {tuple(log_probs.shape)}")
    if lengths.dim() != 1 or lengths.shape[0] != log_probs.shape[0]:
        raise ValueError(f"lengths must be ({log_probs.shape[0]},), got {tuple(lengths.shape)}")
    lens = [int(n) for n in lengths.tolist()]
    if any(n < 0 or n > log_probs.shape[1] for n in lens):
        raise ValueError(f"lengths must lie in [0, T={log_probs.shape[1]}], got {lens}")
    return log_probs.detach().cpu(), lens


def _as_numpy(log_probs: torch.Tensor) -> np.ndarray:
    return log_probs.to(torch.float64).numpy()


def collapse(path: list[int]) -> list[int]:
    """Merge repeated labels, then drop blanks: [1, 1, 0, 2] -> [1, 2]; [1, 0, 1] -> [1, 1]."""
    return [label for label, _ in itertools.groupby(path) if label != BLANK]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best-path decoding.

    Args:
        log_probs: (B, T, V) log-probabilities (or logits: argmax is the same).
        lengths: (B,) number of valid frames of each sequence.

    Returns:
        One list of label ids per sequence, blanks removed.
    """
    lp, lens = _check_inputs(log_probs, lengths)
    best = lp.argmax(dim=2)  # (B, T)
    return [collapse(best[b, :n].tolist()) for b, n in enumerate(lens)]


@dataclass(frozen=True)
class GlossSpan:
    """One emitted label of a greedy path: frames [start, end) and its mean probability there."""

    label: int
    start: int
    end: int
    confidence: float


def greedy_spans(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[GlossSpan]]:
    """Greedy decoding with the frames each label covers (for showing glosses over a video).

    A label repeated across a blank yields two spans. `end` is exclusive. The labels of the spans
    are exactly those of `greedy_decode`; `confidence` assumes log-probabilities, not logits.
    """
    lp, lens = _check_inputs(log_probs, lengths)
    lp = _as_numpy(lp)
    out = []
    for b, n in enumerate(lens):
        path = lp[b, :n].argmax(axis=1)
        out.append(_path_spans(path, lp[b, :n]))
    return out


def _path_spans(path: np.ndarray, lp: np.ndarray) -> list[GlossSpan]:
    spans, t = [], 0
    for label, run in itertools.groupby(path.tolist()):
        width = len(list(run))
        if label != BLANK:
            conf = float(np.exp(lp[t : t + width, label]).mean())
            spans.append(GlossSpan(int(label), t, t + width, conf))
        t += width
    return spans


def _candidates(lp: np.ndarray, top_k: int | None, min_logp: float) -> list[np.ndarray]:
    """Per frame, the non-blank labels that may start a new label there.

    Keeps the `top_k` most likely labels of each frame, and of those only the ones whose log
    probability is at least `min_logp`. top_k=None and min_logp=-inf keep every label.
    """
    T, V = lp.shape
    masked = lp.copy()
    masked[:, BLANK] = NEG_INF
    if top_k is not None and top_k < V - 1:
        idx = np.argpartition(-masked, top_k, axis=1)[:, :top_k]
    else:
        idx = np.broadcast_to(np.arange(V), (T, V))
    rows = np.arange(T)[:, None]
    keep = (idx != BLANK) & (masked[rows, idx] >= min_logp)
    return [idx[t][keep[t]] for t in range(T)]


class _PrefixTree:
    """Label prefixes as integer nodes (0 is the empty prefix), so beams hash and copy ints."""

    def __init__(self):
        self.parent, self.label, self._child = [-1], [-1], {}

    def child(self, node: int, label: int) -> int:
        key = (node, label)
        if key not in self._child:
            self._child[key] = len(self.parent)
            self.parent.append(node)
            self.label.append(label)
        return self._child[key]

    def labels(self, node: int) -> list[int]:
        out = []
        while node > 0:
            out.append(self.label[node])
            node = self.parent[node]
        return out[::-1]


@dataclass
class _Beams:
    """Kept prefixes (tree nodes), their last labels (-1 if empty), and the log-probability of
    their paths ending in a blank (`p_b`) and ending in their last label (`p_nb`)."""

    nodes: list[int]
    last: np.ndarray  # (N,)
    p_b: np.ndarray  # (N,)
    p_nb: np.ndarray  # (N,)

    def totals(self) -> np.ndarray:
        return np.logaddexp(self.p_b, self.p_nb)


def _merge_into_existing(tree, beams: _Beams, labels: np.ndarray, ext, stay_nb) -> None:
    """An extension that equals a kept prefix (A + B = AB) adds to that prefix's score instead."""
    index = {node: i for i, node in enumerate(beams.nodes)}
    for q, node in enumerate(beams.nodes):
        i = index.get(tree.parent[node]) if node > 0 else None
        if i is None:
            continue
        j = np.flatnonzero(labels == beams.last[q])
        if j.size:
            stay_nb[q] = np.logaddexp(stay_nb[q], ext[i, j[0]])
            ext[i, j[0]] = NEG_INF


def _step(tree, beams: _Beams, row: np.ndarray, labels: np.ndarray, width: int) -> _Beams:
    """One frame of prefix beam search, vectorised over (prefix, new label) pairs."""
    total = beams.totals()
    # the prefix stays the same: a blank, or its last label once more
    stay_b = total + row[BLANK]
    stay_nb = np.where(beams.last >= 0, beams.p_nb + row[np.maximum(beams.last, 0)], NEG_INF)
    # (N, K) new prefixes; after its own last label, only a path ending in blank starts a copy
    same = labels[None, :] == beams.last[:, None]
    ext = np.where(same, beams.p_b[:, None], total[:, None]) + row[labels][None, :]
    _merge_into_existing(tree, beams, labels, ext, stay_nb)
    scores = np.concatenate([np.logaddexp(stay_b, stay_nb), ext.ravel()])
    alive = np.flatnonzero(scores > NEG_INF)
    if alive.size == 0:
        return beams
    if alive.size > width:
        alive = alive[np.argpartition(-scores[alive], width - 1)[:width]]
    return _gather(tree, beams, labels, alive, (stay_b, stay_nb, ext))


def _gather(tree, beams: _Beams, labels, chosen: np.ndarray, scores: tuple) -> _Beams:
    stay_b, stay_nb, ext = scores
    n, k = ext.shape
    nodes, last, p_b, p_nb = [], [], [], []
    for flat in chosen.tolist():
        if flat < n:  # a kept prefix
            nodes.append(beams.nodes[flat])
            last.append(beams.last[flat])
            p_b.append(stay_b[flat])
            p_nb.append(stay_nb[flat])
        else:
            i, j = divmod(flat - n, k)
            label = int(labels[j])
            nodes.append(tree.child(beams.nodes[i], label))
            last.append(label)
            p_b.append(NEG_INF)
            p_nb.append(ext[i, j])
    return _Beams(nodes, np.array(last), np.array(p_b), np.array(p_nb))


def _beam_one(lp: np.ndarray, beam_width: int, top_k: int | None, min_logp: float) -> list[int]:
    tree = _PrefixTree()
    beams = _Beams([0], np.full(1, -1), np.zeros(1), np.full(1, NEG_INF))
    for row, labels in zip(lp, _candidates(lp, top_k, min_logp), strict=True):
        beams = _step(tree, beams, row, labels, beam_width)
    return tree.labels(beams.nodes[int(np.argmax(beams.totals()))])


def beam_search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor,
    beam_width: int = 10,
    top_k: int | None = 16,
    min_logp: float = math.log(1e-4),
) -> list[list[int]]:
    """CTC prefix beam search in log space, without a language model.

    Args:
        log_probs: (B, T, V) log-probabilities (log_softmax output, not logits).
        lengths: (B,) number of valid frames of each sequence.
        beam_width: prefixes kept after each frame.
        top_k: per frame, only the `top_k` most likely labels may start a new label (None: all).
        min_logp: per frame, labels below this log-probability may not start a new label.
            A prefix can always continue its own last label and the blank.

    Returns:
        The most probable label sequence of each input (blanks removed).
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    lp, lens = _check_inputs(log_probs, lengths)
    lp = _as_numpy(lp)
    return [_beam_one(lp[b, :n], beam_width, top_k, min_logp) for b, n in enumerate(lens)]


def brute_force_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Exact CTC decoding by enumerating all V**T paths. For tests on tiny inputs only."""
    lp, lens = _check_inputs(log_probs, lengths)
    lp = _as_numpy(lp)
    if any(lp.shape[2] ** n > 200_000 for n in lens):
        raise ValueError("brute_force_decode is for tiny inputs (V**T <= 200000)")
    return [_brute_one(lp[b, :n]) for b, n in enumerate(lens)]


def _brute_one(lp: np.ndarray) -> list[int]:
    T, V = lp.shape
    totals: dict = defaultdict(lambda: NEG_INF)
    for path in itertools.product(range(V), repeat=T):
        score = float(sum(lp[t, a] for t, a in enumerate(path)))
        key = tuple(collapse(list(path)))
        totals[key] = float(np.logaddexp(totals[key], score))
    return list(max(totals.items(), key=lambda kv: kv[1])[0])


def decode(
    log_probs: torch.Tensor,
    lengths: torch.Tensor,
    method: str = "greedy",
    beam_width: int = 10,
) -> list[list[int]]:
    """Decode with `method` "greedy" or "beam" (beam search of width `beam_width`)."""
    if method == "greedy":
        return greedy_decode(log_probs, lengths)
    if method == "beam":
        return beam_search(log_probs, lengths, beam_width=beam_width)
    raise ConfigError(f"unknown decoding method {method!r}: use 'greedy' or 'beam'")
