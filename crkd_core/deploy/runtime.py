"""Recognisers: one call contract for the PyTorch and the onnxruntime paths.

A recogniser is called as a model is, `rec(video (B, T, 3, S, S), lengths (B,)) -> SLROutput`
(logits (B, T', V), lengths (B,); no features), under no_grad, so predict, streaming and the
benchmarks need not know which engine runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..checkpoint import load_model
from ..errors import CheckpointError, ConfigError
from ..models.network import SLRNet, SLROutput
from .export import DIGEST_KEY, checkpoint_digest, read_metadata
from .fuse import optimise_for_inference
from .incremental import TorchHeadEngine, TorchTrunkEngine
from .ort_session import session_options
from .stream_onnx import OnnxHeadEngine, OnnxTrunkEngine, stream_files


class Recognizer(Protocol):
    input_size: int

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput: ...


class TorchRecognizer:
    """A `SLRNet` in eval mode, called under `torch.inference_mode`."""

    def __init__(self, model: SLRNet):
        self.model = model.eval()
        self.input_size = model.cfg.input_size

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput:
        with torch.inference_mode():
            out = self.model(video, lengths)
        return SLROutput(out.logits, out.lengths)


class OnnxRecognizer:
    """An exported model (see `export.py`) run by onnxruntime on the CPU.

    The graph takes one unpadded clip, so a batch is run clip by clip and the logits are
    zero-padded to the longest clip, as `SLRNet` pads them.
    """

    def __init__(self, path: str | Path, threads: int | None = None, spin: bool = False):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(self.path, "ONNX file is missing")
        self.meta = read_onnx_metadata(self.path)
        try:
            self.session = ort.InferenceSession(
                str(self.path), session_options(threads, spin), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own types (InvalidGraph, ...): name the file
            if not type(exc).__module__.startswith("onnxruntime"):
                raise
            raise CheckpointError(self.path, f"onnxruntime cannot load it: {exc}") from exc
        size = self.session.get_inputs()[0].shape[-1]
        if not isinstance(size, int) or size < 1:
            raise CheckpointError(self.path, f"ONNX input size {size!r} is not a fixed size")
        self.input_size = size

    def run_clip(self, video: np.ndarray) -> np.ndarray:
        """(T, 3, S, S) float32 -> (T', V) logits."""
        feeds = {
            "video": np.ascontiguousarray(video[None], dtype=np.float32),
            "lengths": np.array([video.shape[0]], dtype=np.int64),
        }
        return self.session.run(["logits"], feeds)[0][0]

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput:
        clips = [self.run_clip(video[b, :n].numpy()) for b, n in enumerate(lengths.tolist())]
        t_out = max(len(c) for c in clips)
        logits = np.zeros((len(clips), t_out, clips[0].shape[1]), np.float32)
        for b, c in enumerate(clips):
            logits[b, : len(c)] = c
        out_lengths = torch.tensor([len(c) for c in clips], dtype=torch.int64)
        return SLROutput(torch.from_numpy(logits), out_lengths)


def read_onnx_metadata(path: Path) -> dict:
    """The run meta of an ONNX file; CheckpointError naming it when it does not parse as ONNX
    (`read_metadata` itself checks the meta)."""
    from google.protobuf.message import DecodeError  # onnx's parser

    try:
        return read_metadata(path)
    except DecodeError as exc:
        raise CheckpointError(path, f"not a readable ONNX file: {exc}") from exc


def check_onnx_matches_run(onnx_meta: dict, run_meta: dict, path: Path, digest: str) -> None:
    """Refuse an ONNX file exported from another run: another network, vocabulary or weights.

    Args:
        onnx_meta: the file's metadata (`read_metadata`).
        run_meta: the run's checkpoint meta.
        path: the ONNX file, for messages.
        digest: the run's `checkpoint_digest`.
    """
    for key in ("net", "vocab", DIGEST_KEY):
        if key not in onnx_meta:
            raise CheckpointError(
                path, f"ONNX file has no {key!r} in its metadata; re-export it with `crkd export`"
            )
    for key in ("net", "vocab"):
        if onnx_meta[key] != run_meta.get(key):
            raise CheckpointError(path, f"ONNX file was exported from another {key} than the run's")
    if onnx_meta[DIGEST_KEY] != digest:
        raise CheckpointError(
            path, "ONNX file was exported from another run (its checkpoint digest differs)"
        )


def load_recognizer(
    run: str | Path, onnx: str | Path | None = None, threads: int | None = None
) -> tuple[Recognizer, dict]:
    """The run's model as a recogniser: (recogniser, run meta).

    Args:
        run: a run folder with checkpoint.*.
        onnx: an ONNX file exported from this run; None runs PyTorch (with conv+BN folded).
        threads: CPU threads for the engine; None keeps torch's setting.
    """
    if threads:
        torch.set_num_threads(threads)
    model, meta = load_model(Path(run))
    if onnx is None:
        return TorchRecognizer(optimise_for_inference(model)), meta
    rec = OnnxRecognizer(onnx, threads)
    check_onnx_matches_run(rec.meta, meta, Path(onnx), checkpoint_digest(run))
    if rec.input_size != model.cfg.input_size:
        raise ConfigError(
            f"ONNX input is {rec.input_size} px, the run's model takes {model.cfg.input_size} px"
        )
    return rec, meta


def load_stream_engines(
    run: str | Path, onnx: str | Path | None = None, threads: int | None = None
) -> tuple[object, object, dict]:
    """The run's incremental streaming engines: (trunk engine, head engine, run meta).

    Args:
        run: a run folder with checkpoint.*.
        onnx: a whole-clip export of this run (model.onnx); its streaming pair beside it
            (model.trunk.onnx, model.head.onnx, written by `crkd export`) is run. None runs
            PyTorch, with conv+BN folded.
        threads: CPU threads for the engine; None keeps torch's setting.
    """
    if threads:
        torch.set_num_threads(threads)
    model, meta = load_model(Path(run))
    if onnx is None:
        model = optimise_for_inference(model)
        return TorchTrunkEngine(model.trunk, model.cfg.input_size), TorchHeadEngine(model), meta
    files, digest = stream_files(onnx), checkpoint_digest(run)
    trunk, head = OnnxTrunkEngine(files.trunk, threads), OnnxHeadEngine(files.head, threads)
    for engine, path in ((trunk, files.trunk), (head, files.head)):
        check_onnx_matches_run(engine.meta, meta, path, digest)
    if trunk.input_size != model.cfg.input_size:
        raise ConfigError(
            f"{files.trunk}: input is {trunk.input_size} px, the run's model takes "
            f"{model.cfg.input_size} px"
        )
    return trunk, head, meta
