"""Cost figures: WER against cost (the Pareto front), efficiency and latency (03, 05)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .base import SETTING_COLOURS, label


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
