"""Training figures: learning curves (static and live) and confused glosses (01, 02)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager

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

    In a kernel with anywidget (plotly 6+'s FigureWidget needs it) the figure is a widget and
    each epoch appends one point to its run's traces in place: the view keeps its zoom and
    nothing is re-rendered. Without anywidget, one display (IPython's `display_id`) is redrawn
    each epoch. `figure()` is the static figure of everything seen so far.
    """

    def __init__(self, title: str = "Learning curves (live)", show: bool = True):
        self.logs: dict[str, list[dict]] = {}
        self.title = title
        self.widget, self.handle = None, None
        self.traces: dict[tuple[str, str], int] = {}  # (run, key) -> index in widget.data
        try:
            self.widget = go.FigureWidget(learning_curves({}, title))
        except ImportError:  # plotly >= 6 without anywidget
            self.widget = None
        if show:
            self._show()

    def _show(self) -> None:
        from IPython.display import display

        if self.widget is not None:
            display(self.widget)
        else:
            self.handle = display(self.figure(), display_id=True)

    def __call__(self, name: str, row: dict) -> None:
        self.logs.setdefault(name, []).append(row)
        if self.widget is None:
            if self.handle is not None:  # None outside IPython
                self.handle.update(self.figure())
            return
        if (name, CURVES[0][0]) not in self.traces:
            self._add_run(name)
        with self.widget.batch_update():
            for key, _, _ in CURVES:
                trace = self.widget.data[self.traces[(name, key)]]
                trace.x = (*(trace.x or ()), row["epoch"])
                trace.y = (*(trace.y or ()), row.get(key))

    def _add_run(self, name: str) -> None:
        """Two empty traces (loss, dev WER) for a run the figure has not seen yet."""
        colour = qualitative.Plotly[len(self.traces) // len(CURVES) % len(qualitative.Plotly)]
        for key, _, col in CURVES:
            self.traces[(name, key)] = len(self.widget.data)
            self.widget.add_trace(
                go.Scatter(
                    x=[],
                    y=[],
                    mode="lines+markers",
                    name=label(name),
                    legendgroup=name,
                    showlegend=col == 1,
                    line_color=colour,
                ),
                row=1,
                col=col,
            )

    def figure(self) -> go.Figure:
        """The curves seen so far, as a static figure."""
        return learning_curves(self.logs, self.title)

    def catch_up(self, logs: dict[str, list[dict]]) -> None:
        """Add the rows of `logs` (run -> epoch rows so far) that the curves have not seen."""
        for name, rows in logs.items():
            for row in rows[len(self.logs.get(name, ())) :]:
                self(name, row)

    @contextmanager
    def follow(self, logs: Callable[[], dict[str, list[dict]]], every: float = 2.0):
        """Poll `logs()` every `every` seconds while the block runs (runs in other processes,
        such as the ablation grid's, report through their log files, not a hook).

        The poll runs in a thread, so the kernel's cell can block on the runs; an error in
        `logs()` stops the polling and is raised when the block ends.
        """
        stop, failure = threading.Event(), []

        def poll() -> None:
            try:
                while not stop.wait(every):
                    self.catch_up(logs())
            except Exception as exc:  # raised again in the kernel's thread, below
                failure.append(exc)

        thread = threading.Thread(target=poll, name="crkd-live-curves", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
        if failure:
            raise failure[0]
        self.catch_up(logs())


@contextmanager
def following(logs: Callable[[], dict[str, list[dict]]], title: str, enabled: bool = True):
    """`LiveCurves(title).follow(logs)` when `enabled` (a live kernel), else nothing: the
    static report draws its figures from the finished logs."""
    if not enabled:
        yield None
        return
    with LiveCurves(title).follow(logs) as live:
        yield live


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
