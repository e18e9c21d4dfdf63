"""ONNX export of the streaming models: the per-frame trunk step with its TSCM state as explicit
inputs and outputs, and the temporal head as its own model.

    <stem>.trunk.onnx  frames (k, 3, S, S), t0 (1,), t_end (1,), state_0..state_{L-1}
                       -> features (k, C), next_state_0..next_state_{L-1}   (incremental.py)
    <stem>.head.onnx   features (1, T, C), lengths (1,) -> logits (1, T', V)

k and T are dynamic. Both use the legacy TorchScript exporter (`dynamo=False`): in torch 2.13
the dynamo exporter bakes a fixed T into `nn.LSTM` (stack-notes). Each file's metadata holds
the run meta (network, view, vocabulary, the checkpoint's digest) and a `stream` entry (which
part it is, the delay L, the state shapes), so a runtime can check the pair against the run.
`OnnxTrunkEngine` and `OnnxHeadEngine` run the pair with the call contract of the PyTorch
engines in incremental.py.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import CheckpointError
from ..io import atomic_write
from ..models.network import SLRNet
from .export import OPSET, read_metadata, set_metadata
from .fuse import fold_conv_bn
from .incremental import OPEN, TrunkStep, state_shapes
from .ort_session import session_options
from .spans import min_frames


@dataclass(frozen=True)
class StreamFiles:
    trunk: Path
    head: Path


def stream_files(base: str | Path) -> StreamFiles:
    """The streaming pair beside a whole-clip export: model.onnx -> model.trunk/.head.onnx."""
    base = Path(base)
    return StreamFiles(base.with_suffix(".trunk.onnx"), base.with_suffix(".head.onnx"))


class HeadForward(nn.Module):
    """The temporal head and classifier on one unpadded sequence of frame features."""

    def __init__(self, model: SLRNet):
        super().__init__()
        self.head = model.head

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(features, lengths)[0]


def _export(module: nn.Module, args: tuple, path: Path, names: tuple, axes: dict) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer warns about shape arithmetic and LSTM batch folding (the parity tests
        # check several k and T), and that it is the legacy exporter
        for category in (torch.jit.TracerWarning, UserWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category)
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(names[0]),
            output_names=list(names[1]),
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def _write(path: Path, module, args, names, axes, meta: dict) -> Path:
    import onnx

    def write(tmp: Path) -> None:
        _export(module, args, tmp, names, axes)
        set_metadata(tmp, meta)
        onnx.checker.check_model(str(tmp))

    return atomic_write(path, write)


def export_trunk_step(model: SLRNet, path: Path, meta: dict) -> Path:
    """The per-frame trunk step (BatchNorm folded into the convolutions) as ONNX."""
    s = model.cfg.input_size
    step = TrunkStep(fold_conv_bn(model).trunk)
    shapes = state_shapes(model.trunk, s)
    k = 3  # example chunk; any k >= 1 runs later
    args = (torch.zeros(k, 3, s, s), torch.tensor([0]), torch.tensor([OPEN]))
    args += tuple(torch.zeros(sh) for sh in shapes)
    states = [f"state_{i}" for i in range(len(shapes))]
    names = (["frames", "t0", "t_end", *states], ["features", *[f"next_{n}" for n in states]])
    axes = {"frames": {0: "k"}, "features": {0: "k"}}
    info = {"part": "trunk", "delay": step.delay, "state_shapes": [list(x) for x in shapes]}
    return _write(path, step, args=args, names=names, axes=axes, meta={**meta, "stream": info})


def export_head(model: SLRNet, path: Path, meta: dict) -> Path:
    """The temporal head (1D convolutions, BiLSTM, classifier) as ONNX, T dynamic."""
    t = max(32, min_frames(model.cfg.head))
    c = model.cfg.trunk.channels
    args = (torch.zeros(1, t, c), torch.tensor([t]))
    names = (["features", "lengths"], ["logits"])
    axes = {"features": {1: "T"}, "logits": {1: "T_out"}}
    info = {"part": "head", "min_frames": min_frames(model.cfg.head)}
    head = HeadForward(fold_conv_bn(model))
    return _write(path, head, args=args, names=names, axes=axes, meta={**meta, "stream": info})


def export_stream(model: SLRNet, base: str | Path, meta: dict) -> StreamFiles:
    """Both streaming models of `model` beside `base` (see `stream_files`)."""
    files = stream_files(base)
    files.trunk.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    export_trunk_step(model, files.trunk, meta)
    export_head(model, files.head, meta)
    return files


def read_stream_meta(path: Path) -> dict:
    """The run meta of a streaming model; refuses a file without a `stream` entry."""
    meta = read_metadata(path)
    if "stream" not in meta:
        raise CheckpointError(path, "not a streaming model (no 'stream' metadata); use crkd export")
    return meta


class OnnxTrunkEngine:
    """An exported `TrunkStep` (stream_onnx.py) run by onnxruntime; the same call contract."""

    def __init__(self, path: str | Path, threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(path, "streaming trunk ONNX file is missing")
        import onnxruntime as ort

        self.meta = read_stream_meta(path)
        self.session = ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        self.input_size = int(inputs[0].shape[-1])
        self.state_names = [i.name for i in inputs[3:]]
        self.shapes = [tuple(i.shape) for i in inputs[3:]]
        self.delay = len(self.shapes)

    def zero_states(self) -> list[np.ndarray]:
        return [np.zeros(s, np.float32) for s in self.shapes]

    def __call__(self, frames: torch.Tensor, t0: int, t_end: int, states: list):
        feeds = {
            "frames": np.ascontiguousarray(frames.numpy(), dtype=np.float32),
            "t0": np.array([t0], np.int64),
            "t_end": np.array([t_end], np.int64),
            **dict(zip(self.state_names, states, strict=True)),
        }
        out = self.session.run(None, feeds)
        return torch.from_numpy(out[0]), out[1:]


class OnnxHeadEngine:
    """An exported head (stream_onnx.py) run by onnxruntime; the same call contract."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(path, "streaming head ONNX file is missing")
        self.meta = read_stream_meta(path)
        self.session = ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )
        # a head without same padding never reads `lengths`, and the exporter drops it
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        feeds = {
            "features": np.ascontiguousarray(features.numpy()[None], dtype=np.float32),
            "lengths": np.array([features.shape[0]], np.int64),
        }
        feeds = {k: v for k, v in feeds.items() if k in self.inputs}
        return torch.from_numpy(self.session.run(["logits"], feeds)[0][0])
