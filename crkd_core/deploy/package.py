"""Packaging a run for deployment: the export policy and the files of `crkd export`, as a library.

`export_run(ExportConfig(run=...))` writes the whole-clip model (`model.onnx`, export.py) and,
beside it, the streaming pair of `crkd predict --stream` and `crkd demo` (`model.trunk.onnx`:
the per-frame trunk step with its TSCM state; `model.head.onnx`: the temporal head;
stream_onnx.py). With `int8` it also writes the int8 versions of all three (`model.int8.onnx`,
...; quantize.py): "dynamic" needs no data, "static" is calibrated on clips cut from the
videos or frame folders of `calibrate`. It returns an `ExportRecord`: each file with its size
and, unless `no_check`, the largest logit difference to PyTorch at two clip lengths (random
input), so that a broken export shows at once.

The export policy (`plan_export`), which `demo.build_demo` follows too, is checked before any
work:

- every file records the digest of the run's checkpoint (`DIGEST_KEY`);
- nothing is written into another run's folder (the nearest folder above that holds a
  checkpoint.json), not even with `force`;
- an existing file exported from another run is never overwritten, unless `force`;
- the whole-clip file's name ends in .onnx and is never a checkpoint's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import load_model, meta_view
from ..errors import CheckpointError, ConfigError
from ..models.network import SLRNet
from .export import DIGEST_KEY, checkpoint_digest, export_onnx, refuse_foreign, refuse_other_run
from .quantize import MODES, quantize_int8, quantize_stream
from .runtime import OnnxRecognizer
from .sources import read_clip
from .spans import min_frames
from .stream_onnx import StreamFiles, export_stream, stream_files

OUT_ADVICE = "choose another --out (even --force never writes there)"


@dataclass(frozen=True)
class ExportConfig:
    """The options of `crkd export` (its flags, `-` written `_`)."""

    run: Path
    out: Path | None = None  # the whole-clip file; default: RUN/model.onnx
    int8: str | None = None  # also write int8 versions: "dynamic" or "static"
    calibrate: tuple[Path, ...] | None = None  # videos or frame folders, for "static"
    calibration_clips: int = 8  # at most this many clips
    frames: int = 32  # clip length for tracing and calibration
    no_check: bool = False  # skip the PyTorch parity check
    force: bool = False  # overwrite files exported from another run

    def __post_init__(self) -> None:
        for name in ("run", "out"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        if self.calibrate is not None:
            object.__setattr__(self, "calibrate", tuple(Path(p) for p in self.calibrate))
        if self.int8 is not None and self.int8 not in MODES:
            raise ConfigError(f"--int8 must be one of {', '.join(MODES)}, not {self.int8!r}")
        for name in ("calibration_clips", "frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an int > 0, got {value!r}")


@dataclass(frozen=True)
class ExportTarget:
    """Where a run's files go, checked against the export policy (`plan_export`)."""

    run: Path
    out: Path  # the whole-clip file; the streaming pair and the int8 files lie beside it
    digest: str  # the run's checkpoint digest, recorded in every file

    @property
    def int8(self) -> Path:
        return self.out.with_suffix(".int8.onnx")


def plan_export(
    run: str | Path,
    out: str | Path,
    *,
    force: bool = False,
    int8: bool = False,
    clip: bool = True,
    advice: str = OUT_ADVICE,
) -> ExportTarget:
    """The export policy (see the module's docstring), before any file is written.

    Args:
        run: the run folder whose weights are exported.
        out: the whole-clip file (model.onnx); the other files go beside it.
        force: overwrite existing files exported from another run.
        int8: the int8 files will be written too.
        clip: the whole-clip file will be written; False: only the streaming pair (a demo page).
        advice: what to do instead, said when `out` lies in another run's folder.

    Raises:
        ConfigError: `out` does not end in .onnx.
        CheckpointError: `out` has a checkpoint's name, lies in another run's folder, or one of
            the files exists and was exported from another run (unless `force`).
    """
    run, out = Path(run), Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"--out must end in .onnx, got {out}")
    if out.name.startswith("checkpoint."):
        raise CheckpointError(out, "refusing to write over a checkpoint name")
    digest = checkpoint_digest(run)
    # The refusal of what was named comes first: `crkd export --out` names a file, so its files
    # are checked before their folder; `crkd demo --out` (the pair alone) names the folder.
    if not clip:
        refuse_other_run(out.parent, run, advice)
    if not force:
        bases = [out, out.with_suffix(".int8.onnx")] if int8 else [out]
        refuse_foreign([path for base in bases for path in _files(base, clip)], digest)
    if clip:
        refuse_other_run(out.parent, run, advice)
    return ExportTarget(run, out, digest)


def _files(base: Path, clip: bool) -> list[Path]:
    """The files of one precision: the whole-clip model (if `clip`) and the streaming pair."""
    pair = stream_files(base)
    return [base, pair.trunk, pair.head] if clip else [pair.trunk, pair.head]


@dataclass(frozen=True)
class ExportedFile:
    """One written file: its precision, which model it holds, its size and (the whole-clip
    model, unless skipped) its largest |logit difference| to PyTorch."""

    path: Path
    kind: str  # "fp32", "int8 dynamic" or "int8 static"
    part: str  # "clip" (the whole-clip model), "trunk step" or "head" (the streaming pair)
    size: int  # bytes
    max_logit_diff: float | None = None
    check_lengths: tuple[int, ...] = ()  # the clip lengths of that check

    def __str__(self) -> str:
        size = f"({self.size / 2**20:.1f} MiB)"
        if self.part != "clip":
            return f"{self.kind} streaming {self.part}: {self.path} {size}"
        line = f"{self.kind}: {self.path} {size}"
        if self.max_logit_diff is not None:
            lengths = ",".join(str(t) for t in self.check_lengths)
            line += f"; max |logit diff| vs PyTorch at T={lengths}: {self.max_logit_diff:.2e}"
        return line


@dataclass(frozen=True)
class ExportRecord:
    """What `export_run` wrote, in order: the fp32 files, then the int8 ones."""

    run: Path
    digest: str
    files: list[ExportedFile]

    def path(self, kind: str = "fp32", part: str = "clip") -> Path:
        """The file of that precision and part (KeyError when none was written)."""
        for f in self.files:
            if (f.kind, f.part) == (kind, part):
                return f.path
        raise KeyError(f"no {kind} {part} file was written")


def export_run(
    cfg: ExportConfig, on_file: Callable[[ExportedFile], None] | None = None
) -> ExportRecord:
    """Export the run `cfg.run` by the export policy; `on_file(f)` sees each file once written.

    Raises:
        ConfigError, CheckpointError: the policy refuses the files (before any work), or
            static int8 lacks calibration videos.
    """
    model, meta = load_model(cfg.run)
    target = plan_export(
        cfg.run, cfg.out or cfg.run / "model.onnx", force=cfg.force, int8=bool(cfg.int8)
    )
    meta = {**meta, DIGEST_KEY: target.digest}
    clips = _calibration(cfg, model, meta) if cfg.int8 == "static" else None
    files: list[ExportedFile] = []

    def add(*written: ExportedFile) -> None:
        for f in written:
            files.append(f)
            if on_file:
                on_file(f)

    path = export_onnx(model, target.out, meta, cfg.frames)
    add(_clip_file(path, "fp32", model, cfg.no_check))
    add(*_pair_files(export_stream(model, target.out, meta), "fp32"))
    if cfg.int8:
        kind = f"int8 {cfg.int8}"
        add(
            _clip_file(quantize_int8(path, target.int8, cfg.int8, clips), kind, model, cfg.no_check)
        )
        pair = quantize_stream(stream_files(target.out), stream_files(target.int8), cfg.int8, clips)
        add(*_pair_files(pair, kind))
    return ExportRecord(target.run, target.digest, files)


def _calibration(cfg: ExportConfig, model: SLRNet, meta: dict) -> list:
    if not cfg.calibrate:
        raise ConfigError("--int8 static needs --calibrate PATH (videos or frame folders)")
    return calibration_clips(
        list(cfg.calibrate),
        meta,
        input_size=model.cfg.input_size,
        frames=max(cfg.frames, min_frames(model.cfg.head)),
        limit=cfg.calibration_clips,
    )


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


def parity(model: SLRNet, onnx_path: Path, lengths: list[int]) -> float:
    """Largest |logit difference| between PyTorch and onnxruntime over random clips."""
    rec, s, worst = OnnxRecognizer(onnx_path), model.cfg.input_size, 0.0
    for t in lengths:
        video, n = torch.rand(1, t, 3, s, s) * 2 - 1, torch.tensor([t])
        with torch.inference_mode():
            ref = model(video, n).logits
        worst = max(worst, float((rec(video, n).logits - ref).abs().max()))
    return worst


def _clip_file(path: Path, kind: str, model: SLRNet, skip_check: bool) -> ExportedFile:
    size = path.stat().st_size
    if skip_check:
        return ExportedFile(path, kind, "clip", size)
    t0 = min_frames(model.cfg.head)
    lengths = (t0 + 11, t0 + 26)
    diff = parity(model, path, list(lengths))
    return ExportedFile(path, kind, "clip", size, max_logit_diff=diff, check_lengths=lengths)


def _pair_files(pair: StreamFiles, kind: str) -> list[ExportedFile]:
    parts = (("trunk step", pair.trunk), ("head", pair.head))
    return [ExportedFile(p, kind, part, p.stat().st_size) for part, p in parts]
