"""Notebook 04: captum attributions of test sentences, teacher against LRINet + CRKD."""

from __future__ import annotations

from .. import plots
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
            teacher, student, cfg.data, vid, cfg.target, cfg.gloss, cfg.method, cfg.ig_steps
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
