"""ONNX export of a run's network with a dynamic time axis, and optional int8 quantization.

The exported graph takes one unpadded clip:

    inputs:  video (1, T, 3, S, S) float32 in [-1, 1];  lengths (1,) int64, equal to T
    outputs: logits (1, T', V) float32;                 logit_lengths (1,) int64

(ONNX names must be unique in a graph, so the output lengths are `logit_lengths`.)
The run's meta (preset, network, view spec, vocabulary) is stored in the file's metadata, so
an ONNX file can be checked against the run it is used with.

Why the legacy TorchScript exporter (`dynamo=False`): in torch 2.13 the dynamo exporter bakes
a fixed T into `nn.LSTM` and the model then fails on any other length (stack-notes). Why a
wrapper: `SLRNet.forward` packs valid frames with boolean masks and builds TSCM neighbours with
`index_fill`, which the tracer cannot export. For one unpadded clip the packing is the
identity and the neighbours of frame t are t - 1 and t + 1, with the clip ends pointing at
TSCM's zero row (index T), so the wrapper computes exactly what `SLRNet.forward` computes; the
tests check it at several T.

int8 versions are made from the fp32 file by `quantize.py`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CheckpointError
from ..io import atomic_write
from ..models.layers import Neighbours
from ..models.network import SLRNet
from .spans import min_frames

OPSET = 17
INPUT_NAMES = ["video", "lengths"]
OUTPUT_NAMES = ["logits", "logit_lengths"]
META_KEY = "crkd_meta"
DIGEST_KEY = "checkpoint_sha256"  # binds an export to the run whose weights it holds


def checkpoint_digest(run: str | Path, name: str = "checkpoint") -> str:
    """SHA-256 of the run's weights file: the identity of the run an export came from."""
    h = hashlib.sha256()
    with open(Path(run) / f"{name}.safetensors", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class SingleClipForward(nn.Module):
    """`SLRNet.forward` for one unpadded clip, in ops the TorchScript exporter can trace.

    forward(video (1, T, 3, S, S), lengths (1,)) -> (logits (1, T', V), logit_lengths (1,)).
    """

    def __init__(self, model: SLRNet):
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        frames = video[0]  # (1, T, 3, S, S) -> (T, 3, S, S): one clip, every frame valid
        n = frames.shape[0]
        idx = torch.arange(n, device=video.device)
        # Neighbours contract: index N is TSCM's zero row. (0 - 1) mod (N + 1) = N.
        nb = Neighbours(prev=torch.remainder(idx - 1, n + 1), next=idx + 1)
        fmap = self.model.trunk(frames, nb)  # (T, C, h, w)
        seq = fmap.mean(dim=(2, 3)).unsqueeze(0)  # (T, C) -> (1, T, C)
        logits = self.model.head(seq, lengths)[0]
        return logits, self.model.output_lengths(lengths)


def _trace_export(model: SLRNet, path: Path, frames: int, opset: int) -> None:
    s = model.cfg.input_size
    video = torch.zeros(1, frames, 3, s, s)
    lengths = torch.tensor([frames], dtype=torch.int64)
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer warns about shape arithmetic and LSTM batch folding (the parity tests
        # check at several T that the graph stays dynamic), and that it is the legacy one
        for category in (torch.jit.TracerWarning, UserWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category)
        torch.onnx.export(
            SingleClipForward(model).eval(),
            (video, lengths),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes={"video": {1: "T"}, "logits": {1: "T_out"}},
            do_constant_folding=True,
        )


def set_metadata(path: Path, meta: dict) -> None:
    """Store `meta` (JSON) in the ONNX file's metadata_props, in place."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta, ensure_ascii=False)
    onnx.save(proto, str(path))


def read_metadata(path: str | Path) -> dict:
    """The run meta stored by `export_onnx` (an empty dict when there is none); CheckpointError
    when the entry is not a JSON object (the file is damaged or was not written by us)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == META_KEY:
            try:
                meta = json.loads(entry.value)
            except ValueError as exc:
                cause = f"ONNX metadata {META_KEY!r} is not JSON ({exc})"
                raise CheckpointError(path, cause) from exc
            if not isinstance(meta, dict):
                raise CheckpointError(path, f"ONNX metadata {META_KEY!r} is not a JSON object")
            return meta
    return {}


def refuse_foreign(paths: list[Path], digest: str) -> None:
    """Refuse to overwrite an existing export that records another run's checkpoint."""
    for path in paths:
        if not path.exists():
            continue
        try:
            theirs = read_metadata(path).get(DIGEST_KEY)
        except Exception as exc:  # onnx raises its own DecodeError types for a non-ONNX file
            raise CheckpointError(path, f"exists and is not a readable ONNX file ({exc})") from exc
        if theirs != digest:
            whose = "another run" if theirs else "an unknown run (no checkpoint digest)"
            raise CheckpointError(
                path, f"exists and was exported from {whose}; pass --force to overwrite it"
            )


def refuse_other_run(folder: Path, run: Path, advice: str) -> None:
    """Refuse to write into `folder` when it lies in the folder of a run other than `run` (the
    nearest folder above holding a checkpoint.json): an export never lands among another run's
    files."""
    own = Path(run).resolve()
    for above in (Path(folder).resolve(), *Path(folder).resolve().parents):
        if above != own and (above / "checkpoint.json").exists():
            raise CheckpointError(
                folder, f"lies in another run's folder ({above} holds checkpoint.json); {advice}"
            )


def export_onnx(
    model: SLRNet, path: str | Path, meta: dict | None = None, frames: int = 32, opset: int = OPSET
) -> Path:
    """Export `model` (eval mode) to `path` with a dynamic T, atomically; returns the path.

    Args:
        model: a teacher or LRINet.
        path: the .onnx file to write.
        meta: the run meta to embed (see `read_metadata`).
        frames: the example clip length used for tracing (any T >= `min_frames` works later).
        opset: the ONNX opset.
    """
    import onnx

    model = model.eval()
    frames = max(frames, min_frames(model.cfg.head))

    def write(tmp: Path) -> None:
        _trace_export(model, tmp, frames, opset)
        set_metadata(tmp, meta or {})
        onnx.checker.check_model(str(tmp))

    return atomic_write(path, write)
