"""Gloss vocabulary. Blank is id 0; glosses are sorted and numbered from 1 (the CSLR convention)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import VocabError

BLANK = "<blank>"
BLANK_INDEX = 0  # the blank is always the first token


@dataclass(frozen=True)
class Vocab:
    """An ordered gloss vocabulary; `tokens[0]` is always the CTC blank."""

    tokens: tuple[str, ...]

    def __post_init__(self):
        if not self.tokens or self.tokens[0] != BLANK:
            raise VocabError("<vocab>", f"the first token must be {BLANK!r}")
        if len(self.tokens) < 2:
            raise VocabError("<vocab>", "the vocabulary is empty: no gloss besides the blank")
        if len(set(self.tokens)) != len(self.tokens):
            raise VocabError("<vocab>", "duplicate glosses in the vocabulary")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def from_glosses(cls, glosses: Iterable[str]) -> Vocab:
        """Sorted unique glosses, numbered from 1 after the blank."""
        uniq = sorted(set(glosses) - {BLANK})
        return cls((BLANK, *uniq))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, gloss: str) -> bool:
        return gloss in self._index

    def encode(self, glosses: Sequence[str], source: str = "<input>", row=None) -> list[int]:
        """Map glosses to ids; an unknown gloss raises VocabError naming the source and row."""
        ids = []
        for g in glosses:
            if g not in self._index or g == BLANK:
                raise VocabError(source, f"gloss {g!r} is not in the vocabulary", row)
            ids.append(self._index[g])
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids if int(i) != 0]

    def to_json(self) -> dict:
        return {"blank": 0, "tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, obj: dict, source: str = "<vocab>") -> Vocab:
        tokens = obj.get("tokens") if isinstance(obj, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise VocabError(source, "expected {'tokens': [str, ...]}")
        return cls(tuple(tokens))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            obj = json.loads(Path(path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise VocabError(path, f"cannot read vocabulary: {exc}") from exc
        return cls.from_json(obj, str(path))
