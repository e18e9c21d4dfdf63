"""Notebook 04: captum attributions of test sentences, teacher against LRINet + CRKD."""

from __future__ import annotations

import html

from .. import plots
from ..data.corpus import open_dataset
from ..errors import CRKDError
from ..explain import explain_sentence, top_frames
from .configs import AttributionConfig
from .explore import gloss_timeline, sentence_ids
from .training import require_complete


def attribution_ids(cfg: AttributionConfig) -> list[str]:
    return list(cfg.sentences or sentence_ids(cfg.data, "test")[: cfg.n_sentences])


def attribute_sentences(cfg: AttributionConfig) -> list:
    """Teacher vs LRINet + CRKD attributions of the chosen test sentences (first seed's runs)."""
    seed = cfg.seeds[0]
    teacher = require_complete(cfg.teacher_run(seed), "teacher")
    student = require_complete(cfg.student_run("crkd", seed), "LRINet + CRKD")
    return [
        explain_sentence(
            teacher_run=teacher,
            student_run=student,
            data=cfg.data,
            vid=vid,
            target=cfg.target,
            gloss=cfg.gloss,
            method=cfg.method,
            steps=cfg.ig_steps,
        )
        for vid in attribution_ids(cfg)
    ]


def attribution_figures(cfg: AttributionConfig, results: list) -> list:
    """For each sentence: attribution per frame over its glosses, then Grad-CAM overlays."""
    figs = []
    for sa in results:
        segments = gloss_timeline(cfg.data, "test", sa.id)
        frames = top_frames([sa.teacher, sa.student], cfg.overlay_frames)
        figs += [plots.temporal_attribution(sa, segments), plots.overlays(sa, frames)]
    return figs


class AttributionExplorer:
    """Pick a test sentence, a target (the whole reference, or one of its glosses) and a method,
    and captum recomputes the teacher's and LRINet's attribution per frame and their Grad-CAM
    overlays (first seed's runs). Results are cached per choice. Build it with `explorer()`.
    """

    def __init__(self, cfg: AttributionConfig):
        import ipywidgets as w

        seed = cfg.seeds[0]
        self.cfg = cfg
        self.teacher = require_complete(cfg.teacher_run(seed), "teacher")
        self.student = require_complete(cfg.student_run("crkd", seed), "LRINet + CRKD")
        self.entries = {e.id: e for e in open_dataset(cfg.data).read_split("test")}
        self.cache: dict[tuple, object] = {}
        self.pick = w.Dropdown(options=list(self.entries), description="sentence")
        self.gloss = w.Dropdown(description="target")
        self.method = w.ToggleButtons(options=["ig", "saliency"], value=cfg.method)
        self.status, self.out = w.HTML(), w.Output()
        self.box = w.VBox([w.HBox([self.pick, self.gloss, self.method]), self.status, self.out])
        self.box.add_class("crkd-attribution")
        self._targets()
        self.pick.observe(self._targets, "value")
        self.gloss.observe(self.draw, "value")
        self.method.observe(self.draw, "value")

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)

    def _targets(self, *_):
        """The target choices of the picked sentence: CTC over the reference, or one gloss."""
        glosses = dict.fromkeys(self.entries[self.pick.value].glosses)  # in order, once each
        # new options select the first, the reference; draw() is cached if that fired already
        self.gloss.options = [("whole reference (CTC)", "")] + [(g, g) for g in glosses]
        self.draw()

    def compute(self, vid: str, gloss: str, method: str):
        """The SentenceAttribution of one choice (captum; cached)."""
        key = (vid, gloss, method)
        if key not in self.cache:
            target = "gloss" if gloss else "ctc"
            self.cache[key] = explain_sentence(
                teacher_run=self.teacher,
                student_run=self.student,
                data=self.cfg.data,
                vid=vid,
                target=target,
                gloss=gloss or None,
                method=method,
                steps=self.cfg.ig_steps,
            )
        return self.cache[key]

    def draw(self, *_):
        from IPython.display import display

        vid, gloss, method = self.pick.value, self.gloss.value, self.method.value
        self.status.value = f"captum: {method} on {html.escape(vid)} ..."
        try:
            sa = self.compute(vid, gloss, method)
        except CRKDError as exc:  # shown in the widget, where the user is looking
            self.status.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
            return
        frames = top_frames([sa.teacher, sa.student], self.cfg.overlay_frames)
        sim = ", ".join(f"{k} {v:.2f}" for k, v in sa.similarity.items() if k != "map_size")
        self.status.value = f"{html.escape(sa.target)}: {sim}"
        with self.out:
            self.out.clear_output(wait=True)
            display(plots.temporal_attribution(sa, gloss_timeline(self.cfg.data, "test", vid)))
            display(plots.overlays(sa, frames))


def explorer(cfg: AttributionConfig) -> AttributionExplorer:
    """The live attribution explorer of notebook 04 (needs a kernel and ipywidgets)."""
    return AttributionExplorer(cfg)
