"""Plotly figure builders for the notebooks and the report, and a renderer for static pages.

Every string from a dataset (glosses, ids) goes through `label()` (HTML-escaped) before it
becomes figure text: plotly reads a few HTML tags in text, and an escaped string shows as
itself. Images are embedded as PNG data URIs, which keeps figures small.

Under papermill, plotly's default renderer is dropped by nbconvert, and the `notebook`
renderer inlines 5 MB of plotly.js into every notebook. `setup()` selects the `crkd` renderer
instead: each figure carries the plotly mime type (JupyterLab draws it) and an HTML div that
calls `Plotly.newPlot`; `crkd_core.report` puts plotly.js once into each page's head.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative, sample_colorscale
from plotly.io._base_renderers import MimetypeRenderer
from plotly.subplots import make_subplots

PLOTLY_MIME = "application/vnd.plotly.v1+json"
SETTING_COLOURS = dict(
    zip(
        ["none", "feature-scale", "feature-recover", "logit", "both"],
        qualitative.Plotly,
        strict=False,
    )
)


def label(text: object) -> str:
    """A dataset string made safe for figure text, titles and hover labels."""
    return html.escape(str(text), quote=True)


# -- rendering ---------------------------------------------------------------------------------
class StaticRenderer(MimetypeRenderer):
    """The plotly mime bundle plus a div for static HTML (plotly.js comes from the page)."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        fig_json = json.loads(pio.to_json(fig_dict, validate=False))
        div = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            full_html=False,
            validate=False,
            config={"displaylogo": False, "responsive": True},
        )
        return {PLOTLY_MIME: fig_json, "text/html": div}


def setup() -> None:
    """Select the `crkd` renderer (call once at the top of a notebook)."""
    pio.renderers["crkd"] = StaticRenderer()
    pio.renderers.default = "crkd"


def png_uri(img: np.ndarray) -> str:
    """(H, W, 3) uint8 -> a PNG data URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def enlarge(img: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (h, w, 3) to (size, size, 3): pixels stay visible."""
    k = max(1, size // img.shape[0])
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def _hide_axes(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor=None)
    return fig


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
    return _hide_axes(fig)


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


def browser(data, split: str = "train", sizes: Sequence[int] = (64, 32, 16)):
    """An ipywidgets browser: pick a sentence, scrub its frames at every size, see its glosses.

    Widgets need a live kernel; static reports show `resolution_strip` and `gloss_timeline`.
    """
    import ipywidgets as w
    from IPython.display import display

    from . import study

    pick = w.Dropdown(options=study.sentence_ids(data, split), description="sentence")
    scrub = w.IntSlider(value=0, min=0, max=1, description="frame", continuous_update=False)
    out, cache = w.Output(), {}

    def load(vid: str):
        if vid not in cache:
            cache[vid] = (
                study.load_sentence(data, split, vid, tuple(sizes)),
                study.gloss_timeline(data, split, vid),
            )
        return cache[vid]

    def draw(*_):
        sentence, segments = load(pick.value)
        n = len(next(iter(sentence.views.values())))
        scrub.max = n - 1
        t = min(scrub.value, n - 1)
        with out:
            out.clear_output(wait=True)
            display(resolution_strip(sentence.views, [t], " ".join(sentence.glosses)))
            if segments is not None:
                display(gloss_timeline(segments, n, marker=t))

    pick.observe(draw, "value")
    scrub.observe(draw, "value")
    draw()
    return w.VBox([w.HBox([pick, scrub]), out])


# -- training (01, 02) -------------------------------------------------------------------------
CURVES = (("train_total", "train loss", 1), ("dev_wer", "dev WER %", 2))


def learning_curves(logs: dict[str, list[dict]], title: str = "Learning curves") -> go.Figure:
    """Train loss and dev WER per epoch; one colour per run, on shared axes."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[c[1] for c in CURVES])
    for i, (name, rows) in enumerate(logs.items()):
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        for key, _, col in CURVES:
            fig.add_trace(
                go.Scatter(
                    x=[r["epoch"] for r in rows],
                    y=[r.get(key) for r in rows],
                    mode="lines+markers",
                    name=label(name),
                    legendgroup=name,
                    showlegend=col == 1,
                    line_color=colour,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title="epoch")
    fig.update_layout(title=title, height=380)
    return fig


class LiveCurves:
    """Learning curves that grow while training: `curves(name, row)` is an `on_epoch` hook.

    It uses a FigureWidget when anywidget is installed, and otherwise re-renders one display
    (IPython's `display_id`), which needs no widget and still works in JupyterLab.
    """

    def __init__(self, title: str = "Learning curves (live)"):
        from IPython.display import display

        self.logs: dict[str, list[dict]] = {}
        self.title = title
        self.widget, self.handle = None, None
        try:
            self.widget = go.FigureWidget(learning_curves({}, title))
            display(self.widget)
        except ImportError:
            self.handle = display(learning_curves({}, title), display_id=True)

    def __call__(self, name: str, row: dict) -> None:
        self.logs.setdefault(name, []).append(row)
        fig = learning_curves(self.logs, self.title)
        if self.widget is not None:
            with self.widget.batch_update():
                self.widget.data = []
                self.widget.add_traces(fig.data)
        elif self.handle is not None:  # None outside IPython
            self.handle.update(fig)


def confusion_bars(df, title: str = "Most confused glosses") -> go.Figure:
    """Horizontal bars of reference -> hypothesis substitution counts."""
    pairs = [
        f"{label(r)} → {label(h)}" for r, h in zip(df["reference"], df["hypothesis"], strict=True)
    ]
    colours = ["#d62728" if x else "#7f7f7f" for x in df["handshape only"]]
    fig = go.Figure(
        go.Bar(
            x=list(df["count"]),
            y=pairs,
            orientation="h",
            marker_color=colours,
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{title} (red: same location and movement, other handshape)",
        yaxis=dict(autorange="reversed"),
        xaxis_title="substitutions",
        height=120 + 22 * max(1, len(pairs)),
    )
    return fig


# -- ablation (03) -----------------------------------------------------------------------------
def pareto_front(x: Sequence[float], y: Sequence[float], higher_x_better: bool) -> list[int]:
    """Indices of the points no other point beats on both cost (x) and WER (y), sorted by x."""
    order = sorted(range(len(x)), key=lambda i: (-x[i] if higher_x_better else x[i], y[i]))
    front, best = [], float("inf")
    for i in order:
        if y[i] < best:
            front.append(i)
            best = y[i]
    return sorted(front, key=lambda i: x[i])


def pareto(df, title: str = "WER against cost") -> go.Figure:
    """WER vs GMACs/frame and vs measured fps, one marker per (size, KD setting)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[
            "GMACs / frame (lower is cheaper)",
            "measured frames / s (higher is faster)",
        ],
    )
    for col, (key, higher) in enumerate((("gmacs_per_frame", False), ("fps", True)), start=1):
        for setting, part in df.groupby("setting", sort=False):
            fig.add_trace(
                go.Scatter(
                    x=part[key],
                    y=part["wer"],
                    mode="markers+text",
                    name=label(setting),
                    text=[f"{s}px" for s in part["size"]],
                    textposition="top center",
                    error_y=dict(array=part.get("wer_std", None), visible="wer_std" in part),
                    marker=dict(size=11, color=SETTING_COLOURS.get(setting)),
                    legendgroup=setting,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        idx = pareto_front(list(df[key]), list(df["wer"]), higher)
        fig.add_trace(
            go.Scatter(
                x=df[key].iloc[idx],
                y=df["wer"].iloc[idx],
                mode="lines",
                line=dict(dash="dot", color="black"),
                name="Pareto front",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_yaxes(title="test WER %")
    fig.update_layout(title=title, height=430)
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
    from .explain import upsample

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
    return _hide_axes(fig)


# -- efficiency (05) ---------------------------------------------------------------------------
def efficiency_bars(df) -> go.Figure:
    """Params, GMACs/frame and fps of every model of every preset."""
    metrics = (("params", "parameters"), ("gmacs_per_frame", "GMACs / frame"), ("fps", "fps"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[m[1] for m in metrics])
    for i, (preset, part) in enumerate(df.groupby("preset", sort=False)):
        names = [
            f"{preset}: {m} ({s}px)" for m, s in zip(part["model"], part["input_size"], strict=True)
        ]
        for col, (key, _) in enumerate(metrics, start=1):
            fig.add_trace(
                go.Bar(
                    x=names,
                    y=part[key],
                    name=preset,
                    showlegend=col == 1,
                    marker_color=qualitative.Plotly[i],
                    legendgroup=preset,
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(type="log")
    fig.update_layout(title="Cost of every preset and resolution", height=460)
    return fig


def speed_vs_cost(df) -> go.Figure:
    """Measured fps against GMACs/frame: how well compute predicts speed on this machine."""
    fig = go.Figure()
    for preset, part in df.groupby("preset", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["gmacs_per_frame"],
                y=part["fps"],
                mode="markers+text",
                text=[f"{m} {s}px" for m, s in zip(part["model"], part["input_size"], strict=True)],
                textposition="top center",
                name=preset,
            )
        )
    fig.update_xaxes(type="log", title="GMACs / frame")
    fig.update_yaxes(type="log", title="frames / s (batch 1)")
    fig.update_layout(title="Speed against compute", height=420)
    return fig


def latency_bars(bench) -> go.Figure | None:
    """fps of each engine of benchmarks/latency.py, per preset and model (None: no such rows)."""
    if bench is None or "engine" not in bench:
        return None
    rows = bench.dropna(subset=["engine"])
    fig = go.Figure()
    for engine, part in rows.groupby("engine", sort=False):
        names = [f"{p}: {m}" for p, m in zip(part["preset"], part["model"], strict=True)]
        fig.add_trace(go.Bar(x=names, y=part["fps"], name=label(engine)))
    fig.update_yaxes(type="log", title="frames / s (batch 1)")
    fig.update_layout(title="Latency benchmarks: engines", barmode="group", height=420)
    return fig
