"""The live camera demo: a static page that runs a run's streaming LRINet in the browser.

`build_demo(run_dir, out_dir)` writes a self-contained folder:

    index.html, demo.js, stream.js, demo.css   the page (package data of crkd_core.demo)
    model.trunk.onnx, model.head.onnx     the streaming pair (deploy/stream_onnx.py)
    demo.json                             vocabulary, sizes, normalisation, stream settings
    ort/                                  onnxruntime-web (WASM build) from web/node_modules

The page reads the camera (getUserMedia), applies the training-time test view (squash-resize
to the run's pre_size square, centre crop, LRINet's antialiased resize, x / 127.5 - 1) and
streams the frames through the same incremental engine and gloss stabiliser as
`crkd predict --stream` (ported to demo.js). onnxruntime-web comes from the npm registry at
build time (`npm ci --prefix web`); nothing is fetched from a CDN. WASM threads need a
cross-origin-isolated page, so serve it with `crkd demo` (COOP/COEP headers).
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from ..checkpoint import load_model, meta_view, meta_vocab
from ..deploy.export import DIGEST_KEY, checkpoint_digest
from ..deploy.incremental import state_shapes
from ..deploy.spans import min_frames, step_timing
from ..deploy.stream_onnx import export_stream
from ..deploy.streaming import StreamConfig
from ..errors import ConfigError, ToolMissingError
from ..io import atomic_write_json

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
            f"onnxruntime-web is not installed ({dist} lacks {', '.join(missing)}): run "
            "`npm ci --prefix web` in the repository (it comes from the npm registry)"
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


def build_demo(
    run_dir: Path, out_dir: Path, config: StreamConfig | None = None, fps: float = DEFAULT_FPS
) -> Path:
    """Build the demo page of the run `run_dir` into `out_dir`; returns its index.html.

    Args:
        run_dir: a run folder with checkpoint.* (a teacher or an LRINet).
        out_dir: the folder to write (created; files of an earlier build are replaced).
        config: window, hop and margin of the stream (default: `crkd predict --stream`'s).
        fps: the frame rate assumed for time spans when the camera does not say.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    dist = ort_dist()  # before any work: a missing runtime is the commonest failure
    model, meta = load_model(run_dir)
    digest = checkpoint_digest(run_dir)
    settings = demo_settings(model, meta, digest, config or StreamConfig(), fps)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_stream(model, out_dir / "model.onnx", {**meta, DIGEST_KEY: digest})
    (out_dir / "ort").mkdir(exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(dist / name, out_dir / "ort" / name)
    for name in PAGE_FILES:
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        (out_dir / name).write_bytes(data)
    atomic_write_json(out_dir / "demo.json", settings)
    return out_dir / "index.html"


def read_settings(out_dir: Path) -> dict:
    """demo.json of a built page."""
    return json.loads((Path(out_dir) / "demo.json").read_text("utf-8"))
