"""int8 quantization of an exported model with onnxruntime.quantization.

Two modes (measured on this machine, x86-64 with AVX2 and no VNNI; see benchmarks/README.md):

- `dynamic`: int8 weights for MatMul/Gemm (classifier, projections) and LSTM nodes;
  activations are quantized on the fly, so no data is needed. Its speed is that of fp32 here,
  because the convolutions dominate and stay fp32. Quantizing Conv dynamically (ConvInteger)
  made the nets 2-4x *slower*, so it is not offered.
- `static`: QDQ int8 convolutions (per-channel int8 weights, uint8 activations) whose
  activation ranges are calibrated on clips. 1.3-1.5x faster than fp32 onnxruntime here. The
  calibration clips must be real, preprocessed frames (`crkd export --int8 static
  --calibrate ...`): ranges from noise would not fit real activations. The MatMul and LSTM
  nodes stay fp32 in this mode.

Without VNNI, 8-bit products can saturate on x86, so weights use 7 bits there (onnxruntime's
`reduce_range`, as its documentation recommends); the file records the choice.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write
from .export import read_metadata, set_metadata
from .incremental import OPEN
from .stream_onnx import OnnxTrunkEngine

MODES = ("dynamic", "static")
DYNAMIC_OPS = ["MatMul", "Gemm", "LSTM"]
STATIC_OPS = ["Conv"]


def cpu_has_vnni() -> bool:
    """Whether the CPU has an 8-bit dot-product instruction (AVX-VNNI or AVX512-VNNI)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime.quantization logs advice through the root logger on every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class ClipReader:
    """onnxruntime's calibration reader protocol over (T, 3, S, S) float32 clips."""

    def __init__(self, clips: Iterable[np.ndarray]):
        self._it = iter(clips)

    def get_next(self) -> dict | None:
        clip = next(self._it, None)
        if clip is None:
            return None
        return {
            "video": np.ascontiguousarray(clip[None], dtype=np.float32),
            "lengths": np.array([clip.shape[0]], dtype=np.int64),
        }


def _dynamic(src: Path, dst: Path) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(dst), op_types_to_quantize=DYNAMIC_OPS, weight_type=QuantType.QInt8
    )
    return {"mode": "dynamic", "ops": DYNAMIC_OPS, "weights": "int8"}


class StepReader:
    """Calibration feeds for a streaming trunk step: each clip streamed through the fp32 step.

    Every feed is a real step (a chunk of frames with the states the fp32 step carried there),
    so the calibrated ranges cover the states as well as the frames.
    """

    def __init__(self, fp32_trunk: Path, clips: Iterable[np.ndarray], chunk: int = 4):
        self.path, self.clips, self.chunk = fp32_trunk, list(clips), chunk
        self._it: Iterator[dict] | None = None

    def _feeds(self) -> Iterator[dict]:
        import torch

        engine = OnnxTrunkEngine(self.path, threads=1)
        for clip in self.clips:
            states = engine.zero_states()
            for t0 in range(0, len(clip), self.chunk):
                frames = np.ascontiguousarray(clip[t0 : t0 + self.chunk], dtype=np.float32)
                feed = {"frames": frames, "t0": np.array([t0]), "t_end": np.array([OPEN])}
                yield {**feed, **dict(zip(engine.state_names, states, strict=True))}
                states = engine(torch.from_numpy(frames), t0, OPEN, states)[1]

    def get_next(self) -> dict | None:
        if self._it is None:
            self._it = self._feeds()
        return next(self._it, None)


def _static(src: Path, dst: Path, clips: list[np.ndarray], reader=None) -> dict:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reduce_range = not cpu_has_vnni()
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre))  # shape inference + graph clean-up
        quantize_static(
            str(pre),
            str(dst),
            reader or ClipReader(clips),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=STATIC_OPS,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    return {
        "mode": "static",
        "ops": STATIC_OPS,
        "weights": "int8 per channel",
        "activations": "uint8",
        "reduce_range": reduce_range,
        "calibration_clips": len(clips),
    }


def quantize_int8(
    src: str | Path,
    dst: str | Path,
    mode: str = "dynamic",
    clips: list[np.ndarray] | None = None,
    reader=None,
) -> Path:
    """Quantize the fp32 ONNX file `src` into `dst`, atomically; returns `dst`.

    Args:
        src: an fp32 file from `export_onnx`.
        dst: the int8 file to write.
        mode: "dynamic" (no data) or "static" (needs `clips`).
        clips: calibration clips, (T, 3, S, S) float32 each, preprocessed as for the model.
        reader: a calibration reader for another graph than the whole-clip one (`StepReader`
            for a streaming trunk); default: `ClipReader(clips)`.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown int8 mode {mode!r}; use one of {MODES}")
    if mode == "static" and not clips:
        raise ConfigError("static int8 quantization needs calibration clips (--calibrate)")
    src, meta = Path(src), read_metadata(src)

    def write(tmp: Path) -> None:
        with _quiet_quantizer():
            if mode == "dynamic":
                info = _dynamic(src, tmp)
            else:
                info = _static(src, tmp, clips or [], reader)
        set_metadata(tmp, {**meta, "quantization": info})

    return atomic_write(dst, write)


def quantize_stream(files, out, mode: str, clips: list[np.ndarray] | None = None):
    """int8 versions of a streaming pair `files` into `out` (both stream_onnx.StreamFiles).

    The head (BiLSTM, classifier) is quantized dynamically in either mode. The trunk has only
    convolutions, which dynamic mode leaves in fp32, so only "static" (calibrated on `clips`
    streamed through the fp32 step) makes its int8 version differ.
    """
    reader = StepReader(files.trunk, clips or []) if mode == "static" else None
    quantize_int8(files.trunk, out.trunk, mode, clips, reader)
    quantize_int8(files.head, out.head, "dynamic")
    return out
