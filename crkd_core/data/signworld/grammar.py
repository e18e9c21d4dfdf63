"""SignWorld sentences: a small grammar `[TIME] SUBJECT [OBJECT [MODIFIER]] [MODAL] VERB [NEG]`.

SignWorld is this project's invention. Sentences hold 2 to 7 glosses (3.5 on average). Within a
role, glosses follow a mild Zipf law, as words do, so the most frequent gloss of a handshape group
is well defined (the handshape-blind floor depends on it). The choice within a role does not
depend on the context, so the grammar cannot tell apart glosses of one group: only the hand can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .phonology import GlossSpec

# (role, probability of appearing, role it depends on or None)
SLOTS: tuple[tuple[str, float, str | None], ...] = (
    ("time", 0.35, None),
    ("subject", 1.0, None),
    ("object", 0.55, None),
    ("modifier", 0.3, "object"),
    ("modal", 0.2, None),
    ("verb", 1.0, None),
    ("negation", 0.2, None),
)
ZIPF_EXPONENT = 0.7


class Grammar:
    """Samples gloss sequences from a gloss table."""

    def __init__(self, table: Sequence[GlossSpec]):
        self.words: dict[str, list[str]] = {}
        for g in table:
            self.words.setdefault(g.role, []).append(g.gloss)
        self.weights = {role: _zipf(len(ws)) for role, ws in self.words.items()}

    def sample(self, rng: np.random.Generator) -> list[str]:
        """One sentence; every slot draws its random numbers, so sentences stay independent."""
        out: list[str] = []
        present: set[str] = set()
        for role, p, needs in SLOTS:
            keep = rng.random() < p
            pick = rng.choice(len(self.words[role]), p=self.weights[role])
            if keep and (needs is None or needs in present):
                out.append(self.words[role][pick])
                present.add(role)
        return out


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** ZIPF_EXPONENT
    return w / w.sum()
