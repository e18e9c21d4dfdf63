"""CTC decoding: greedy collapse table, beam vs greedy, beam vs brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crkd_core.decode import (
    beam_search,
    brute_force_decode,
    collapse,
    decode,
    greedy_decode,
    greedy_spans,
)
from crkd_core.errors import ConfigError

A, B, C, _ = 1, 2, 3, 0


def peaked(path: list[int], vocab: int = 5, p: float = 0.9) -> torch.Tensor:
    """(1, T, V) log-probs whose argmax at frame t is path[t], holding mass p."""
    probs = torch.full((1, len(path), vocab), (1 - p) / (vocab - 1))
    for t, label in enumerate(path):
        probs[0, t, label] = p
    return probs.log()


def lengths(*values: int) -> torch.Tensor:
    return torch.tensor(values)


COLLAPSE_CASES = [
    ([A, A, _, B], [A, B]),
    ([A, _, A], [A, A]),
    ([A, A, A], [A]),
    ([_, _, _], []),
    ([], []),
    ([_, A, B, _, C, C, _], [A, B, C]),
    ([A, B, A, B], [A, B, A, B]),
    ([_, A] * 120, [A] * 120),  # more than 100 tokens
]


@pytest.mark.parametrize("path, expected", COLLAPSE_CASES)
def test_greedy_table(path, expected):
    assert collapse(path) == expected
    assert greedy_decode(peaked(path), lengths(len(path))) == [expected]


@pytest.mark.parametrize("path, expected", COLLAPSE_CASES)
def test_beam_on_peaked_paths(path, expected):
    # very peaked: at p=0.98 the 240-frame case has a likelier sequence than its best path
    assert beam_search(peaked(path, p=0.999), lengths(len(path))) == [expected]


def test_lengths_shorter_than_t_are_respected():
    lp = torch.cat([peaked([A, _, B, C, C]), peaked([C, C, C, _, _])])
    lens = lengths(3, 5)
    assert greedy_decode(lp, lens) == [[A, B], [C]]
    assert beam_search(lp, lens) == [[A, B], [C]]
    assert greedy_decode(lp, lengths(0, 1)) == [[], [C]]


@pytest.mark.parametrize("seed", range(5))
def test_beam_equals_greedy_on_peaked_distributions(seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 40, 30, generator=gen)
    labels = torch.randint(0, 30, (3, 40), generator=gen)
    logits.scatter_(2, labels.unsqueeze(2), 12.0)  # one label holds ~99.9 % of each frame
    lp = logits.log_softmax(-1)
    lens = lengths(40, 33, 7)
    assert beam_search(lp, lens) == greedy_decode(lp, lens)


@pytest.mark.parametrize("vocab, frames", [(3, 4), (3, 6), (4, 5), (4, 6)])
@pytest.mark.parametrize("seed", range(4))
def test_beam_equals_brute_force_on_tiny_vocabularies(vocab, frames, seed):
    gen = torch.Generator().manual_seed(1000 * vocab + 10 * frames + seed)
    lp = (2.0 * torch.randn(2, frames, vocab, generator=gen)).log_softmax(-1)
    lens = lengths(frames, frames - 1)
    exact = brute_force_decode(lp, lens)
    wide = beam_search(lp, lens, beam_width=vocab**frames, top_k=None, min_logp=-math.inf)
    assert wide == exact


def _add(table: dict, prefix: tuple, b: float = -math.inf, nb: float = -math.inf) -> None:
    old_b, old_nb = table.get(prefix, (-math.inf, -math.inf))
    table[prefix] = (float(np.logaddexp(old_b, b)), float(np.logaddexp(old_nb, nb)))


def _reference_beam(lp: torch.Tensor, width: int) -> list[int]:
    """Textbook prefix beam search on dicts of python floats, for one (T, V) input."""
    beams = {(): (0.0, -math.inf)}
    for row in lp.tolist():
        nxt: dict = {}
        for prefix, (p_b, p_nb) in beams.items():
            total = float(np.logaddexp(p_b, p_nb))
            _add(nxt, prefix, b=total + row[0])
            for c in range(1, len(row)):
                if prefix and c == prefix[-1]:
                    _add(nxt, prefix, nb=p_nb + row[c])
                    _add(nxt, prefix + (c,), nb=p_b + row[c])
                else:
                    _add(nxt, prefix + (c,), nb=total + row[c])
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
        beams = dict(ranked[:width])
    return list(max(beams, key=lambda p: np.logaddexp(*beams[p])))


@pytest.mark.parametrize("width", [1, 3, 10])
@pytest.mark.parametrize("seed", range(3))
def test_beam_matches_textbook_prefix_beam_search(width, seed):
    gen = torch.Generator().manual_seed(seed)
    lp = (3.0 * torch.randn(1, 12, 6, generator=gen)).log_softmax(-1)
    ours = beam_search(lp, lengths(12), beam_width=width, top_k=None, min_logp=-math.inf)
    assert ours == [_reference_beam(lp[0], width)]


def test_brute_force_sums_paths_unlike_greedy():
    # best path is "_ _" (0.36) but A has 0.64: AA + A_ + _A = 0.16 + 0.24 + 0.24
    lp = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log()
    assert greedy_decode(lp, lengths(2)) == [[]]
    assert brute_force_decode(lp, lengths(2)) == [[1]]
    assert beam_search(lp, lengths(2)) == [[1]]


def test_greedy_spans():
    path = [_, A, A, _, B, B, B, _, A]
    spans = greedy_spans(peaked(path), lengths(len(path)))[0]
    assert [(s.label, s.start, s.end) for s in spans] == [(A, 1, 3), (B, 4, 7), (A, 8, 9)]
    assert all(s.confidence == pytest.approx(0.9) for s in spans)
    assert [s.label for s in spans] == greedy_decode(peaked(path), lengths(len(path)))[0]


def test_decode_dispatch():
    lp, lens = peaked([A, _, B]), lengths(3)
    assert decode(lp, lens) == decode(lp, lens, method="beam", beam_width=4) == [[A, B]]
    with pytest.raises(ConfigError):
        decode(lp, lens, method="viterbi")


@pytest.mark.parametrize(
    "lp, lens",
    [
        (torch.zeros(2, 5), lengths(5, 5)),  # not (B, T, V)
        (torch.zeros(2, 5, 3), lengths(5)),  # one length for two sequences
        (torch.zeros(1, 5, 3), lengths(6)),  # longer than T
        (torch.zeros(1, 5, 3), lengths(-1)),
    ],
)
def test_bad_shapes_raise(lp, lens):
    with pytest.raises(ValueError):
        greedy_decode(lp, lens)
    with pytest.raises(ValueError):
        beam_search(lp, lens)


def test_beam_width_must_be_positive():
    with pytest.raises(ValueError):
        beam_search(peaked([A]), lengths(1), beam_width=0)
