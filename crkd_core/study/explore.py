"""Notebook 00: browsing the data, sentence by sentence, at every resolution.

SignWorld-only extras (the gloss table, the handshape-blind floor, gloss timings) drop out on
real data: their functions return None or empty tables there, and the notebook says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import plots
from ..data.corpus import SPLITS, open_dataset
from ..data.synthetic import COARSE_KEYS, METADATA_FILE, read_metadata, read_timings
from ..data.transforms import ViewSpec
from ..explain import clip_views, to_uint8
from ..models.presets import PRESETS
from .paths import resolve_path


@dataclass
class Sentence:
    """One video, as the models see it: the same centre crop at several sizes."""

    id: str
    split: str
    signer: str
    glosses: tuple[str, ...]
    views: dict[int, Any]  # size -> (T, size, size, 3) uint8


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of a video during which `gloss` is signed."""

    gloss: str
    start: int
    end: int


def sentence_ids(data: str | Path, split: str) -> list[str]:
    return [e.id for e in open_dataset(resolve_path(data)).read_split(split)]


def load_sentence(
    data: str | Path,
    split: str,
    vid: str | None = None,
    sizes: tuple[int, ...] = (64, 32, 16),
    preset: str = "cpu",
) -> Sentence:
    """A video's frames at every size in `sizes`, cut from one crop (as `make_views` does)."""
    root, p = resolve_path(data), PRESETS.get(preset)
    vid = vid or sentence_ids(root, split)[0]
    views = {}
    for s in sizes:
        entry, v = clip_views(root, split, vid, ViewSpec(p.pre_size, p.teacher.input_size, s))
        views[s] = to_uint8(v.student)
    return Sentence(vid, split, entry.signer, entry.glosses, views)


def is_signworld(data: str | Path) -> bool:
    return (resolve_path(data) / METADATA_FILE).is_file()


def gloss_timeline(data: str | Path, split: str, vid: str) -> list[Segment] | None:
    """Where each gloss of a SignWorld video is signed (as drawn), or None on other data.

    The generator writes the timings beside the corpus; a dataset without them (real data)
    has no timeline. A SignWorld dataset whose timings are missing or damaged is an error.
    """
    if not is_signworld(data):
        return None
    timings = read_timings(resolve_path(data), split)
    if vid not in timings:
        return None
    return [Segment(g, a, b) for g, a, b in timings[vid]]


def gloss_groups(data: str | Path) -> dict[str, tuple]:
    """SignWorld gloss -> its coarse parameters (location, movement, hands, orientation);
    {} on other data (no gloss differs by handshape alone that we know of)."""
    if not is_signworld(data):
        return {}
    meta = read_metadata(resolve_path(data))
    return {g["gloss"]: tuple(g[k] for k in COARSE_KEYS) for g in meta["glosses"]}


def dataset_tables(data: str | Path) -> dict[str, Any]:
    """Splits (videos, frames and, on SignWorld, the handshape-blind floor) and, on SignWorld,
    the gloss table, as DataFrames (`glosses` is None on other data)."""
    import pandas as pd

    root = resolve_path(data)
    if not is_signworld(root):
        layout = open_dataset(root)
        rows = [{"split": s, "videos": len(layout.read_split(s))} for s in SPLITS]
        return {"splits": pd.DataFrame(rows), "glosses": None}
    meta = read_metadata(root)
    floor = meta.get("handshape_blind_floor", {})
    splits = pd.DataFrame(
        [
            {
                "split": s,
                "videos": n,
                "frames": meta["frames"].get(s),
                "handshape-blind floor WER %": round(floor.get(s, float("nan")), 1),
            }
            for s, n in meta["splits"].items()
        ]
    )
    cols = ["gloss", "role", "handshape", "location", "movement", "hands", "orientation"]
    glosses = pd.DataFrame(meta["glosses"])[cols]
    return {"splits": splits, "glosses": glosses}


def browser(data, split: str = "train", sizes: tuple[int, ...] = (64, 32, 16)):
    """An ipywidgets browser: pick a sentence, scrub its frames at every size, see its glosses.

    Widgets need a live kernel; static reports show `resolution_strip` and `gloss_timeline`.
    """
    import ipywidgets as w
    from IPython.display import display

    pick = w.Dropdown(options=sentence_ids(data, split), description="sentence")
    scrub = w.IntSlider(value=0, min=0, max=1, description="frame", continuous_update=False)
    out, cache = w.Output(), {}

    def load(vid: str):
        if vid not in cache:
            cache[vid] = (
                load_sentence(data, split, vid, tuple(sizes)),
                gloss_timeline(data, split, vid),
            )
        return cache[vid]

    def draw(*_):
        sentence, segments = load(pick.value)
        n = len(next(iter(sentence.views.values())))
        scrub.max = n - 1
        t = min(scrub.value, n - 1)
        with out:
            out.clear_output(wait=True)
            display(plots.resolution_strip(sentence.views, [t], " ".join(sentence.glosses)))
            if segments is not None:
                display(plots.gloss_timeline(segments, n, marker=t))

    pick.observe(draw, "value")
    scrub.observe(draw, "value")
    draw()
    return w.VBox([w.HBox([pick, scrub]), out])
