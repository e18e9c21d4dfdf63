"""Plotly figure builders for the notebooks and the report, and a renderer for static pages.

Figure builders take plain data (arrays, rows, DataFrames) and import nothing from the study:
`base` (labels, images, the renderer), `frames` (00, 04), `curves` (01, 02), `costs` (03, 05).
"""

from .base import PLOTLY_MIME, SETTING_COLOURS, StaticRenderer, enlarge, label, png_uri, setup
from .costs import efficiency_bars, latency_bars, pareto, pareto_front, speed_vs_cost
from .curves import CURVES, LiveCurves, confusion_bars, following, learning_curves
from .frames import (
    gloss_timeline,
    overlay,
    overlays,
    resolution_strip,
    spread,
    temporal_attribution,
)

__all__ = [
    "CURVES",
    "PLOTLY_MIME",
    "SETTING_COLOURS",
    "LiveCurves",
    "StaticRenderer",
    "confusion_bars",
    "efficiency_bars",
    "enlarge",
    "following",
    "gloss_timeline",
    "label",
    "latency_bars",
    "learning_curves",
    "overlay",
    "overlays",
    "pareto",
    "pareto_front",
    "png_uri",
    "resolution_strip",
    "setup",
    "speed_vs_cost",
    "spread",
    "temporal_attribution",
]
