"""Training figures: learning curves (static and live) and confused glosses (01, 02)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .base import label

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
