"""The live camera demo: a static page that runs a run's streaming LRINet in the browser.

`build_demo(run_dir, out_dir)` writes a self-contained folder (and returns it as a `DemoPage`):

    index.html, demo.js, stream.js, demo.css   the page (package data of crkd_core.demo)
    model.trunk.onnx, model.head.onnx     the streaming pair (deploy/stream_onnx.py)
    demo.json                             vocabulary, sizes, normalisation, stream settings
    ort/                                  onnxruntime-web (WASM build) from web/node_modules

The page reads the camera (getUserMedia), applies the training-time test view (squash-resize
to the run's pre_size square, centre crop, LRINet's antialiased resize, x / 127.5 - 1) and
streams the frames through the same incremental engine and gloss stabiliser as
`crkd predict --stream` (ported to demo.js). onnxruntime-web comes from the npm registry at
build time (`npm ci --prefix web`); nothing is fetched from a CDN. WASM threads need a
cross-origin-isolated page, so serve it with `crkd demo` (COOP/COEP headers, server.py).

The streaming pair is exported by the policy of `crkd export` (deploy/package.py): never into
another run's folder, never over another run's files unless `force`. `prepare_demo(DemoConfig)`
is what `crkd demo` and `api.demo` call: it builds a run's page, or checks a page built before
and completes its onnxruntime-web.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..checkpoint import load_model, meta_view, meta_vocab
from ..deploy.export import DIGEST_KEY
from ..deploy.incremental import state_shapes
from ..deploy.package import plan_export
from ..deploy.spans import min_frames, step_timing
from ..deploy.stream_onnx import export_stream
from ..deploy.streaming import StreamConfig
from ..errors import ConfigError, FileFormatError, ToolMissingError
from ..io import atomic_write_json, read_json

PAGE_FILES = ("index.html", "demo.js", "stream.js", "demo.css")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DEFAULT_FPS = 25.0


def ort_dist() -> Path:
    """onnxruntime-web's dist folder, installed by `npm ci --prefix web` in the repository."""
    root = Path(__file__).resolve().parents[2]
    dist = root / "web" / "node_modules" / "onnxruntime-web" / "dist"
    missing = [f for f in ORT_FILES if not (dist / f).is_file()]
    if missing:
        raise ToolMissingError(
            f"onnxruntime-web is not installed ({dist.relative_to(root)} lacks "
            f"{', '.join(missing)}): run `npm ci --prefix web` in the repository (it comes "
            "from the npm registry)"
        )
    return dist


def demo_settings(model, meta: dict, digest: str, cfg: StreamConfig, fps: float) -> dict:
    """What the page needs besides the models (written to demo.json)."""
    spec, net = meta_view(meta), model.cfg
    timing = step_timing(net.head)
    if net.role == "student" and spec.student_size != net.input_size:
        raise ConfigError(
            f"the run's view gives {spec.student_size} px, its LRINet takes {net.input_size} px"
        )
    return {
        "format": "crkd-demo/1",
        "run": digest,
        "role": net.role,
        "input_size": net.input_size,
        "pre_size": spec.pre_size,
        "crop_size": spec.teacher_size,
        "resize": net.role == "student" and net.input_size != spec.teacher_size,
        "normalisation": spec.normalisation,
        "vocab": meta_vocab(meta, Path("checkpoint.json")).tokens,
        "num_classes": model.num_classes,
        "blank": 0,
        "channels": net.trunk.channels,
        "delay": sum(b.tscm is not None for b in model.trunk.blocks),
        "state_shapes": [list(s) for s in state_shapes(model.trunk, net.input_size)],
        "min_frames": min_frames(net.head),
        "timing": {"stride": timing.stride, "offset": timing.offset},
        "stream": {"window": cfg.window, "hop": cfg.hop, "margin": cfg.margin, "chunk": 1},
        "fps": fps,
        "models": {"trunk": "model.trunk.onnx", "head": "model.head.onnx"},
    }


@dataclass(frozen=True)
class DemoConfig:
    """The options of `crkd demo` that make its page (its flags, `-` written `_`): either `run`
    (build that run's page) or `page` (check a page built before, completing onnxruntime-web)."""

    run: Path | None = None
    page: Path | None = None
    out: Path | None = None  # build here; default: a new temporary folder
    force: bool = False  # overwrite a page's models exported from another run
    window: int = 64  # stream: frames per window
    hop: int = 8  # stream: frames between windows
    margin: int = 12  # stream: tail margin, frames
    fps: float = DEFAULT_FPS  # frame rate for time spans

    def __post_init__(self) -> None:
        for name in ("run", "page", "out"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        if (self.run is None) == (self.page is None):
            raise ConfigError("name one of a run (to build its page) or a page built before")
        fps = self.fps
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps < math.inf:
            raise ConfigError(f"--fps must be a positive number, got {fps}")
        if self.run is not None:
            self.stream_config()  # checked before any work

    def stream_config(self) -> StreamConfig:
        return StreamConfig(self.window, self.hop, self.margin)


@dataclass(frozen=True)
class DemoPage:
    """A demo page: its folder, and the run it was built from (None: a page built before)."""

    folder: Path
    run: Path | None = None

    @property
    def index(self) -> Path:
        return self.folder / "index.html"


def prepare_demo(cfg: DemoConfig) -> DemoPage:
    """Build the page of `cfg.run` into `cfg.out` (default: a new temporary folder), or check
    the page `cfg.page` built before and complete its onnxruntime-web (`add_runtime`)."""
    if cfg.page is not None:
        return DemoPage(add_runtime(cfg.page))
    out = cfg.out if cfg.out is not None else Path(tempfile.mkdtemp(prefix="crkd-demo-"))
    return build_demo(cfg.run, out, config=cfg.stream_config(), fps=cfg.fps, force=cfg.force)


def add_runtime(page: Path) -> Path:
    """A built page, with onnxruntime-web copied in when it lacks it (git keeps no wasm)."""
    if not (page / "demo.json").is_file():
        raise ConfigError(f"{page}: not a demo page (no demo.json); build one with --run")
    read_settings(page)  # untrusted: checked before anything is copied or served
    dist = None
    for name in ORT_FILES:
        if not (page / "ort" / name).is_file():
            dist = dist or ort_dist()
            (page / "ort").mkdir(exist_ok=True)
            shutil.copyfile(dist / name, page / "ort" / name)
    return page


def build_demo(
    run_dir: Path,
    out_dir: Path,
    config: StreamConfig | None = None,
    fps: float = DEFAULT_FPS,
    force: bool = False,
) -> DemoPage:
    """Build the demo page of the run `run_dir` into `out_dir`.

    Args:
        run_dir: a run folder with checkpoint.* (a teacher or an LRINet).
        out_dir: the folder to write (created; files of an earlier build are replaced).
        config: window, hop and margin of the stream (default: `crkd predict --stream`'s).
        fps: the frame rate assumed for time spans when the camera does not say.
        force: overwrite a streaming pair exported from another run (as `crkd export --force`).

    Raises:
        CheckpointError: before any work, when `out_dir` lies in another run's folder, or holds
            a streaming pair of another run and `force` is not given (the export policy).
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    dist = ort_dist()  # before any work: a missing runtime is the commonest failure
    model, meta = load_model(run_dir)
    target = plan_export(
        run_dir, out_dir / "model.onnx", force=force, clip=False, advice="build the page elsewhere"
    )
    settings = demo_settings(model, meta, target.digest, config or StreamConfig(), fps)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_stream(model, target.out, {**meta, DIGEST_KEY: target.digest})
    (out_dir / "ort").mkdir(exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(dist / name, out_dir / "ort" / name)
    for name in PAGE_FILES:
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        (out_dir / name).write_bytes(data)
    atomic_write_json(out_dir / "demo.json", settings)
    return DemoPage(out_dir, run_dir)


# demo.json's whole numbers: (low, high). Sizes as a checkpoint's network allows (models/network).
SETTING_RANGES = {
    "input_size": (8, 1024),
    "pre_size": (8, 2048),
    "crop_size": (8, 2048),
    "num_classes": (2, 100_000),
    "channels": (1, 4096),
    "delay": (0, 64),
    "min_frames": (1, 10_000),
}


def read_settings(out_dir: Path) -> dict:
    """demo.json of a built page, checked as untrusted input (`check_settings`)."""
    path = Path(out_dir) / "demo.json"
    settings = read_json(path)
    check_settings(settings, path, Path(out_dir))
    return settings


def check_settings(s, path: Path, page: Path) -> None:
    """Raise FileFormatError naming demo.json and the field: numbers must be whole (or, for
    fps, finite) and in range, the vocabulary printable text as long as the classifier, the
    stream settings valid, one state shape per TSCM block, the models files inside the page."""

    def bad(field: str, cause: str):
        raise FileFormatError(path, f"{field}: {cause}; rebuild the page with `crkd demo --run`")

    if not isinstance(s, dict) or s.get("format") != "crkd-demo/1":
        bad("format", "not a crkd demo settings file (crkd-demo/1)")
    for key, (low, high) in SETTING_RANGES.items():
        if not _whole(s.get(key), low, high):
            bad(key, f"must be an integer between {low} and {high}, got {s.get(key)!r}")
    fps = s.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps < math.inf:
        bad("fps", f"must be a finite number > 0, got {fps!r}")
    vocab = s.get("vocab")
    if not isinstance(vocab, list) or not all(
        isinstance(t, str) and t.isprintable() for t in vocab
    ):
        bad("vocab", "must be a list of printable strings")
    if len(vocab) != s["num_classes"] or len(set(vocab)) != len(vocab):
        bad("vocab", f"{len(set(vocab))} distinct glosses for {s['num_classes']} classes")
    if not _whole(s.get("blank"), 0, s["num_classes"] - 1):
        bad("blank", f"must be a class index, got {s.get('blank')!r}")
    shapes = s.get("state_shapes")
    if not isinstance(shapes, list) or len(shapes) != s["delay"]:
        bad("state_shapes", f"must hold one shape per TSCM block ({s['delay']})")
    if not all(isinstance(x, list) and x and all(_whole(n, 1, 4096) for n in x) for x in shapes):
        bad("state_shapes", "each shape must be a list of integers between 1 and 4096")
    timing = s.get("timing")
    offset = timing.get("offset") if isinstance(timing, dict) else None
    if not isinstance(offset, int | float) or not math.isfinite(offset):
        bad("timing", f"must give a finite offset, got {timing!r}")
    if not _whole(timing.get("stride"), 1, 64):
        bad("timing", f"stride must be an integer between 1 and 64, got {timing.get('stride')!r}")
    if s.get("role") not in ("teacher", "student") or s.get("normalisation") != "minus_one_one":
        bad("role", f"role {s.get('role')!r} or normalisation {s.get('normalisation')!r} unknown")
    _check_stream(s.get("stream"), bad)
    _check_models(s.get("models"), page, bad)


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_stream(stream, bad) -> None:
    keys = ("window", "hop", "margin", "chunk")
    if not isinstance(stream, dict) or not all(_whole(stream.get(k), 0, 100_000) for k in keys):
        bad("stream", f"must give {', '.join(keys)} as integers, got {stream!r}")
    try:
        StreamConfig(stream["window"], stream["hop"], stream["margin"])
    except ConfigError as exc:
        bad("stream", str(exc))


def _check_models(models, page: Path, bad) -> None:
    """Each model a relative path of a file inside the page (never `..` or absolute)."""
    if not isinstance(models, dict) or set(models) != {"trunk", "head"}:
        bad("models", f"must name the trunk and head files, got {models!r}")
    root = page.resolve()
    for part, name in models.items():
        target = (page / name).resolve() if isinstance(name, str) else None
        if target is None or not name.isprintable() or not target.is_relative_to(root):
            bad(f"models.{part}", f"{name!r} is not a file name inside the page")
        if not target.is_file():
            bad(f"models.{part}", f"{name!r} is missing from the page")
