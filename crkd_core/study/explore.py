"""Notebook 00: browsing the data, sentence by sentence, at every resolution.

SignWorld-only extras (the gloss table, the handshape-blind floor, gloss timings) drop out on
real data: their functions return None or empty tables there, and the notebook says so.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.corpus import SPLITS, open_dataset
from ..data.synthetic import COARSE_KEYS, METADATA_FILE, read_metadata, read_timings
from ..data.transforms import ViewSpec, resize_view
from ..errors import ConfigError, CRKDError
from ..explain import clip_views, to_uint8
from ..models.presets import PRESETS
from ..plots import enlarge
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


# -- the live browser (a kernel only; static reports show the strip and the timeline) ----------
def png_bytes(img: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes, for an ipywidgets Image."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return buf.getvalue()


def timeline_html(segments: list[Segment] | None, n_frames: int, t: int) -> str:
    """The glosses along the frames as HTML bars, with a marker at frame `t`.

    HTML rather than a plotly figure: it is redrawn on every frame of a scrub, and a string
    is cheap to send. Gloss names come from the dataset, so they are escaped.
    """
    n = max(1, n_frames)
    now = next((s.gloss for s in segments or [] if s.start <= t < s.end), None)
    bars = "".join(
        f'<div title="{html.escape(s.gloss)}: frames {s.start}-{s.end - 1}" style="position:'
        f"absolute;left:{100 * s.start / n:.2f}%;width:{100 * (s.end - s.start) / n:.2f}%;"
        f"top:0;bottom:0;background:{'#f4a582' if s.gloss == now else '#d1e5f0'};"
        "overflow:hidden;font-size:11px;text-align:center;line-height:22px;"
        f'border-right:1px solid #fff">{html.escape(s.gloss)}</div>'
        for s in segments or []
    )
    marker = (
        f'<div style="position:absolute;left:{100 * (t + 0.5) / n:.2f}%;top:-3px;bottom:-3px;'
        'width:2px;background:#000"></div>'
    )
    if segments is None:
        caption = "gloss timings are not available for this dataset"
    else:
        caption = f"signing <b>{html.escape(now)}</b>" if now else "rest or transition"
    return (
        f'<div class="crkd-timeline" style="position:relative;height:22px;width:100%;'
        f'background:#f0f0f0;margin:4px 0">{bars}{marker}</div>'
        f'<div class="crkd-frame-caption">frame {t} of {n_frames}: {caption}</div>'
    )


class SentenceBrowser:
    """Pick a sentence, scrub (or play) its frames, and compare the teacher's view with the
    student's at any size from 4 px to the teacher's, shown enlarged with pixels kept, above
    the gloss timeline. Build it with `browser()`; it displays as its widget box.
    """

    def __init__(self, data, split: str, student_size: int, preset: str, shown: int, vid: str):
        import ipywidgets as w

        self.data, self.split, self.preset = resolve_path(data), split, PRESETS.get(preset)
        teacher_size = self.preset.teacher.input_size
        self.cache: dict[str, tuple] = {}
        ids = sentence_ids(self.data, split)
        if vid and vid not in ids:
            raise ConfigError(f"no video {vid!r} in split {split!r} of {self.data}")
        self.pick = w.Dropdown(options=ids, value=vid or ids[0], description="sentence")
        self.frame = w.IntSlider(0, 0, 1, description="frame", continuous_update=True)
        self.play = w.Play(interval=150, description="play")
        w.jslink((self.play, "value"), (self.frame, "value"))
        self.student = w.IntSlider(
            min(max(4, student_size), teacher_size), 4, teacher_size, description="student px"
        )
        self.zoom = w.IntSlider(shown, 64, 512, step=32, description="shown px")
        self.views = {k: w.Image(format="png") for k in ("teacher", "student")}
        self.captions = {k: w.HTML() for k in self.views}
        self.timeline, self.status = w.HTML(), w.HTML()
        self.views["teacher"].add_class("crkd-teacher-view")
        self.views["student"].add_class("crkd-student-view")
        panels = [w.VBox([self.captions[k], self.views[k]]) for k in self.views]
        controls = w.HBox([self.pick, self.play, self.frame])
        self.box = w.VBox(
            [controls, w.HBox([self.student, self.zoom]), w.HBox(panels), self.timeline]
            + [self.status]
        )
        self.box.add_class("crkd-browser")
        self.pick.observe(self._new_sentence, "value")
        for control in (self.frame, self.student, self.zoom):
            control.observe(self.draw, "value")
        self._new_sentence()

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)

    def load(self, vid: str) -> tuple:
        """(corpus entry, teacher view (T, 3, S, S) in [-1, 1], gloss timeline), cached."""
        if vid not in self.cache:
            spec = ViewSpec(self.preset.pre_size, self.preset.teacher.input_size)
            entry, views = clip_views(self.data, self.split, vid, spec)
            self.cache[vid] = (entry, views.teacher, gloss_timeline(self.data, self.split, vid))
        return self.cache[vid]

    def _new_sentence(self, *_):
        entry, teacher, _ = self.load(self.pick.value)
        with self.frame.hold_trait_notifications():
            self.frame.value = min(self.frame.value, len(teacher) - 1)
            self.frame.max = len(teacher) - 1
        self.play.max = self.frame.max
        self.draw()

    def draw(self, *_):
        """Redraw both views and the timeline for the current sentence, frame and sizes."""
        try:
            entry, teacher, segments = self.load(self.pick.value)
        except CRKDError as exc:  # a damaged file: say so in the widget, where it is seen
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            return
        t, shown = min(self.frame.value, len(teacher) - 1), self.zoom.value
        clip = teacher[t : t + 1]
        views = {"teacher": clip, "student": resize_view(clip, self.student.value)}
        for k, v in views.items():
            img = to_uint8(v)[0]
            self.views[k].value = png_bytes(enlarge(img, shown))
            who = "teacher" if k == "teacher" else "LRINet"
            self.captions[k].value = f"<b>{who}</b>: {img.shape[0]} px, frame {t}"
        self.timeline.value = timeline_html(segments, len(teacher), t)
        glosses = html.escape(" ".join(entry.glosses))
        self.status.value = f"{html.escape(entry.id)} ({html.escape(entry.signer)}): {glosses}"


def browser(
    data,
    split: str = "train",
    student_size: int = 16,
    preset: str = "cpu",
    shown: int = 192,
    sentence: str = "",
) -> SentenceBrowser:
    """The live data browser of notebook 00 (needs a kernel and ipywidgets).

    Args:
        data: the dataset root.
        split: the split whose sentences are listed.
        student_size: the student's view size to start with (the slider goes 4 px to the
            teacher's input size).
        preset: the network preset whose crop and teacher size are shown.
        shown: the size both views are shown at, in screen pixels (enlarged, pixels kept).
        sentence: the video id shown first; "" means the split's first.
    """
    return SentenceBrowser(
        data=data, split=split, student_size=student_size, preset=preset, shown=shown, vid=sentence
    )
