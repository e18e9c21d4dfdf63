"""Compute cost of a network: parameters, GMACs per frame and measured frames per second.

`crkd profile` prints these for a preset's teacher and LRINet.

GMACs come from `torch.utils.flop_counter` (FLOPs / 2) on a clip of `frames` frames, divided
by the number of frames. The counter reports nn.LSTM as zero, so the LSTM's multiply-adds are
added analytically: per step, layer and direction 4 * (in * h + h * h).
Speeds are medians of several timed runs after a warm-up, measured in the same process with
the same thread count, so that ratios between models are fair.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .models.network import SLRNet


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lstm_macs(model: SLRNet, steps: int) -> int:
    lstm = model.head.lstm.lstm
    h, total, cin = lstm.hidden_size, 0, lstm.input_size
    for _ in range(lstm.num_layers):
        total += 2 * 4 * (cin * h + h * h) * steps  # two directions
        cin = 2 * h
    return total


@torch.no_grad()
def gmacs_per_frame(model: SLRNet, frames: int = 32) -> float:
    """Multiply-adds per input frame, counted on the model's own device; its mode is kept."""
    s = model.cfg.input_size
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = torch.zeros(1, frames, 3, s, s, device=device)
    lengths = torch.tensor([frames])
    try:
        with FlopCounterMode(display=False) as counter:
            out = model(x, lengths)
    finally:
        model.train(was_training)
    macs = counter.get_total_flops() / 2 + lstm_macs(model, int(out.lengths[0]))
    return macs / frames / 1e9


@torch.no_grad()
def measure_fps(
    model: torch.nn.Module,
    input_size: int,
    frames: int = 32,
    repeats: int = 5,
    warmup: int = 2,
    min_seconds: float = 0.5,
) -> dict:
    """Frames per second of batch-1 inference on a clip of `frames` frames (median of repeats)."""
    model.eval()
    x = torch.randn(1, frames, 3, input_size, input_size)
    lengths = torch.tensor([frames])
    for _ in range(warmup):
        model(x, lengths)
    rates = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            model(x, lengths)
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        rates.append(n * frames / dt)
    return {
        "fps": statistics.median(rates),
        "fps_runs": rates,
        "frames_per_clip": frames,
        "threads": torch.get_num_threads(),
    }


def model_cost(model: SLRNet, frames: int = 32, measure: bool = True, **fps_kwargs) -> dict:
    out = {
        "params": count_params(model),
        "gmacs_per_frame": gmacs_per_frame(model, frames),
        "input_size": model.cfg.input_size,
        "variant": model.cfg.variant,
    }
    if measure:
        out.update(measure_fps(model, model.cfg.input_size, frames, **fps_kwargs))
    return out


def costs_side_by_side(
    models: dict[str, SLRNet], frames: int = 32, repeats: int = 5, min_seconds: float = 0.5
) -> dict[str, dict]:
    """Measure the cost of several models, with their fps runs interleaved (A, B, A, B, ...).

    Interleaving spreads the noise of a shared machine evenly over the models, so the ratio of
    their medians is fairer than two back-to-back measurements.
    """
    out = {name: model_cost(m, frames, measure=False) for name, m in models.items()}
    runs: dict[str, list[float]] = {name: [] for name in models}
    for m in models.values():  # warm-up
        measure_fps(m, m.cfg.input_size, frames, repeats=1, warmup=1, min_seconds=0.1)
    for _ in range(repeats):
        for name, m in models.items():
            r = measure_fps(
                m, m.cfg.input_size, frames, repeats=1, warmup=0, min_seconds=min_seconds
            )
            runs[name].append(r["fps"])
    for name in models:
        out[name].update(
            {
                "fps": statistics.median(runs[name]),
                "fps_runs": runs[name],
                "frames_per_clip": frames,
                "threads": torch.get_num_threads(),
            }
        )
    return out


def teacher_vs_lrinet(res: dict[str, dict]) -> dict:
    """`costs_side_by_side` of {"teacher", "lrinet"}, with LRINet's ratios to its teacher."""
    t, s = res["teacher"], res["lrinet"]
    ratios = {k: s[k] / t[k] for k in ("params", "gmacs_per_frame", "fps")}
    return {"teacher": t, "lrinet": s, "ratios_lrinet_over_teacher": ratios}


def side_by_side_table(out: dict) -> list[str]:
    """`teacher_vs_lrinet`'s figures as the lines of a table."""
    lines = [f"{'':10}{'input':>8}{'params':>12}{'GMACs/frame':>14}{'fps':>10}"]
    for name in ("teacher", "lrinet"):
        r = out[name]
        lines.append(
            f"{name:10}{r['input_size']:>6}px{r['params'] / 1e6:>11.2f}M"
            f"{r['gmacs_per_frame']:>14.3f}{r['fps']:>10.1f}"
        )
    q = out["ratios_lrinet_over_teacher"]
    lines.append(
        f"{'ratio':10}{'':>8}{q['params']:>11.2f}x{q['gmacs_per_frame']:>13.2f}x{q['fps']:>9.2f}x"
    )
    return lines
