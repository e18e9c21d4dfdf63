"""`crkd export`: a run's model as ONNX (dynamic T, legacy exporter, opset 17), optionally int8.

Writes the whole-clip model (`model.onnx`) and, beside it, the streaming pair for
`crkd predict --stream` and `crkd demo` (`model.trunk.onnx`: the per-frame trunk step with its
TSCM state; `model.head.onnx`: the temporal head). Every file records the digest of the run's
checkpoint, and an existing file exported from another run is never overwritten (`--force`
does). Prints where the files went, their size, and the largest logit difference to PyTorch
at two clip lengths (random input), so that a broken export shows at once.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_model, meta_view
from ..deploy.export import (
    DIGEST_KEY,
    checkpoint_digest,
    export_onnx,
    refuse_foreign,
    refuse_other_run,
)
from ..deploy.quantize import MODES, quantize_int8, quantize_stream
from ..deploy.runtime import OnnxRecognizer
from ..deploy.sources import read_clip
from ..deploy.spans import min_frames
from ..deploy.stream_onnx import export_stream, stream_files
from ..errors import CheckpointError, ConfigError
from ._args import positive_int


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, type=Path, help="a run folder with checkpoint.*")
    p.add_argument("--out", type=Path, default=None, help="default: RUN/model.onnx")
    p.add_argument(
        "--int8",
        nargs="?",
        const="dynamic",
        default=None,
        choices=MODES,
        help="also write <out stem>.int8.onnx; 'dynamic' (default: no data needed) "
        "or 'static' (int8 convolutions, faster; needs --calibrate)",
    )
    p.add_argument(
        "--calibrate",
        type=Path,
        nargs="+",
        default=None,
        metavar="PATH",
        help="videos or frame folders for static int8 calibration",
    )
    p.add_argument(
        "--calibration-clips", type=positive_int, default=8, help="at most this many clips"
    )
    p.add_argument(
        "--frames", type=positive_int, default=32, help="clip length for tracing/calibration"
    )
    p.add_argument("--no-check", action="store_true", help="skip the PyTorch parity check")
    p.add_argument("--force", action="store_true", help="overwrite files exported from another run")


def calibration_clips(
    paths: list[Path], meta: dict, input_size: int, frames: int, limit: int
) -> list:
    """Preprocessed clips of `frames` frames cut from the calibration videos/folders."""
    spec, role = meta_view(meta), meta["net"]["role"]
    clips = []
    for path in paths:
        x = read_clip(path, spec, role, input_size).numpy()
        clips += [x[i : i + frames] for i in range(0, max(1, len(x) - frames + 1), frames)]
    return clips[:limit]


def parity(model, onnx_path: Path, lengths: list[int]) -> float:
    """Largest |logit difference| between PyTorch and onnxruntime over random clips."""
    rec, s, worst = OnnxRecognizer(onnx_path), model.cfg.input_size, 0.0
    for t in lengths:
        video, n = torch.rand(1, t, 3, s, s) * 2 - 1, torch.tensor([t])
        with torch.inference_mode():
            ref = model(video, n).logits
        worst = max(worst, float((rec(video, n).logits - ref).abs().max()))
    return worst


def run(args) -> int:
    model, meta = load_model(args.run)
    out = args.out or args.run / "model.onnx"
    if out.suffix != ".onnx":
        raise ConfigError(f"--out must end in .onnx, got {out}")
    if out.name.startswith("checkpoint."):
        raise CheckpointError(out, "refusing to write over a checkpoint name")
    meta = {**meta, DIGEST_KEY: checkpoint_digest(args.run)}
    q_out = out.with_suffix(".int8.onnx")
    files, q_files = stream_files(out), stream_files(q_out)
    if not args.force:
        targets = [out, files.trunk, files.head]
        targets += [q_out, q_files.trunk, q_files.head] if args.int8 else []
        refuse_foreign(targets, meta[DIGEST_KEY])
    refuse_other_run(out.parent, args.run, "choose another --out (even --force never writes there)")
    clips = None
    if args.int8 == "static":
        if not args.calibrate:
            raise ConfigError("--int8 static needs --calibrate PATH (videos or frame folders)")
        clips = calibration_clips(
            args.calibrate,
            meta,
            model.cfg.input_size,
            max(args.frames, min_frames(model.cfg.head)),
            args.calibration_clips,
        )
    path = export_onnx(model, out, meta, args.frames)
    _report(path, model, args.no_check)
    export_stream(model, out, meta)
    _report_stream(files, "fp32")
    if args.int8:
        q = quantize_int8(path, q_out, args.int8, clips)
        _report(q, model, args.no_check, f"int8 {args.int8}")
        _report_stream(quantize_stream(files, q_files, args.int8, clips), f"int8 {args.int8}")
    return 0


def _report_stream(files, what: str) -> None:
    for part, p in (("trunk step", files.trunk), ("head", files.head)):
        print(f"{what} streaming {part}: {p} ({p.stat().st_size / 2**20:.1f} MiB)")


def _report(path: Path, model, skip_check: bool, what: str = "fp32") -> None:
    size = path.stat().st_size / 2**20
    line = f"{what}: {path} ({size:.1f} MiB)"
    if not skip_check:
        t0 = min_frames(model.cfg.head)
        line += f"; max |logit diff| vs PyTorch at T={t0 + 11},{t0 + 26}: "
        line += f"{parity(model, path, [t0 + 11, t0 + 26]):.2e}"
    print(line)
