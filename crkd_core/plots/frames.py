"""Figures of frames: the resolution strip, the gloss timeline and attribution (00, 04)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

from ..heatmaps import upsample
from .base import enlarge, hide_axes, label, png_uri


# -- data (00) ---------------------------------------------------------------------------------
def spread(n: int, k: int) -> list[int]:
    """`k` frame indices spread evenly over `n` frames."""
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def resolution_strip(
    views: dict[int, np.ndarray], frames: Sequence[int], title: str = ""
) -> go.Figure:
    """Rows: the same frames at each size (upscaled to the largest, pixels kept)."""
    sizes = sorted(views, reverse=True)
    fig = make_subplots(
        rows=len(sizes),
        cols=len(frames),
        horizontal_spacing=0.01,
        vertical_spacing=0.03,
        row_titles=[f"{s} px" for s in sizes],
        column_titles=[f"frame {t}" for t in frames],
    )
    for r, s in enumerate(sizes, start=1):
        for c, t in enumerate(frames, start=1):
            fig.add_trace(
                go.Image(source=png_uri(enlarge(views[s][t], sizes[0])), hoverinfo="skip"),
                row=r,
                col=c,
            )
    fig.update_layout(
        title=label(title), height=150 * len(sizes) + 80, margin=dict(l=10, r=40, t=80, b=10)
    )
    return hide_axes(fig)


def gloss_timeline(
    segments, n_frames: int, title: str = "", marker: int | None = None
) -> go.Figure:
    """The glosses of a video along its frames (rest and transitions left blank).

    `segments` None (timings unknown for this dataset) gives an empty, titled figure.
    """
    fig = go.Figure()
    if segments is None:
        title = f"{title} (gloss timings not available for this dataset)"
    for i, s in enumerate(segments or []):
        fig.add_trace(
            go.Bar(
                x=[s.end - s.start],
                base=[s.start],
                y=["signing"],
                orientation="h",
                text=[label(s.gloss)],
                textposition="inside",
                insidetextanchor="middle",
                showlegend=False,
                marker_color=qualitative.Pastel[i % len(qualitative.Pastel)],
                hovertemplate=f"{label(s.gloss)}: frames {s.start}-{s.end - 1}<extra></extra>",
            )
        )
    if marker is not None:
        fig.add_vline(x=marker + 0.5, line_color="black", line_width=2)
    fig.update_layout(
        title=label(title),
        height=180,
        barmode="overlay",
        xaxis=dict(title="frame", range=[0, n_frames]),
        margin=dict(l=10, r=10, t=50, b=40),
    )
    return fig


# -- attribution (04) --------------------------------------------------------------------------
def temporal_attribution(sa, segments=None) -> go.Figure:
    """Share of input attribution per frame, teacher vs LRINet, over the gloss timeline."""
    fig = go.Figure()
    for a, colour in ((sa.teacher, "#1f77b4"), (sa.student, "#d62728")):
        fig.add_trace(
            go.Scatter(
                y=a.temporal, mode="lines", name=f"{a.name} ({a.input_size}px)", line_color=colour
            )
        )
    for s in segments or []:
        fig.add_vrect(
            x0=s.start - 0.5,
            x1=s.end - 0.5,
            fillcolor="#cccccc",
            opacity=0.3,
            line_width=0,
            annotation_text=label(s.gloss),
            annotation_position="top",
        )
    fig.update_layout(
        title=f"{label(sa.id)}: attribution per frame, target {label(sa.target)}",
        xaxis_title="frame",
        yaxis_title="share of |attribution|",
        height=360,
    )
    return fig


def _lut(scale: str = "Inferno") -> np.ndarray:
    cols = sample_colorscale(scale, np.linspace(0, 1, 256).tolist())
    return np.array([[float(v) for v in c[4:-1].split(",")] for c in cols])


def overlay(frame: np.ndarray, cam: np.ndarray, size: int) -> np.ndarray:
    """A frame (upscaled to `size`) with a Grad-CAM map (h, w) blended over it."""
    img = enlarge(frame, size)[:size, :size].astype(np.float64)
    heat = upsample(cam[None], size)[0]
    heat = heat / heat.max() if heat.max() > 0 else heat
    colour = _lut()[(heat * 255).astype(int)]
    alpha = 0.6 * heat[..., None]
    return ((1 - alpha) * img + alpha * colour).clip(0, 255).astype(np.uint8)


def overlays(sa, frames: Sequence[int]) -> go.Figure:
    """Grad-CAM over the frames each model saw: teacher (top) and LRINet (bottom)."""
    models = (sa.teacher, sa.student)
    size = max(a.frames.shape[1] for a in models)
    fig = make_subplots(
        rows=2,
        cols=len(frames),
        horizontal_spacing=0.01,
        vertical_spacing=0.04,
        column_titles=[f"frame {t}" for t in frames],
        row_titles=[f"{a.name} {a.input_size}px" for a in models],
    )
    for r, a in enumerate(models, start=1):
        for c, t in enumerate(frames, start=1):
            fig.add_trace(
                go.Image(source=png_uri(overlay(a.frames[t], a.cam[t], size)), hoverinfo="skip"),
                row=r,
                col=c,
            )
    sim = sa.similarity
    fig.update_layout(
        title=f"{label(sa.id)}: Grad-CAM on the frame map (cosine "
        f"{sim['gradcam_cosine']:.2f}, Spearman "
        f"{sim['gradcam_spearman']:.2f})",
        height=380,
        margin=dict(l=10, r=60, t=80, b=10),
    )
    return hide_axes(fig)
