"""The live demo in a real browser: SignWorld test sentences rendered to a .y4m file play as
the camera of headless Chromium; the page's transcript must equal `crkd predict --stream` on
the same pixels. Also the page's messages for bad input.

Chromium comes from Debian (`tools/sysdeps.sh`), onnxruntime-web from npm (`npm ci --prefix
web`), Playwright from PyPI, pointed at the system browser (it never downloads one). Without
them the tests skip, except under CI=true, where they fail.
"""

import base64
import json
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from crkd_core.checkpoint import model_meta, save_model
from crkd_core.cli import main
from crkd_core.commands.demo import make_server
from crkd_core.data.transforms import ViewSpec
from crkd_core.demo import build_demo, ort_dist
from crkd_core.deploy.sources import model_input, video_source
from crkd_core.deploy.spans import min_frames, step_timing
from crkd_core.deploy.stream_onnx import OnnxHeadEngine, OnnxTrunkEngine, stream_files
from crkd_core.deploy.streaming import IncrementalStreamingRecognizer, StreamConfig
from crkd_core.errors import CRKDError
from crkd_core.metrics import wer
from crkd_core.models.network import HeadConfig
from tests.helpers import top1_margin
from tests.test_streaming import MARGIN_WINDOW, fitted_signworld

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
SENTENCES = 4  # test sentences in the video
CONFIG = StreamConfig(48, 4, 12)
# Chromium's and PyAV's YUV -> RGB of the test video differ by up to 3 levels (measured on
# AVX-512 and AVX2 kernels alike); that moved a near-tie of the fitted head once (issue 21).
DECODER_LEVELS = 4


def require(what: str, ok: bool) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is missing under CI (make test installs it)")
        pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def playwright_api():
    require("chromium", Path(CHROMIUM).is_file())
    try:
        ort_dist()
    except CRKDError:
        require("onnxruntime-web (npm ci --prefix web)", False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("playwright (pip)", False)
    with sync_playwright() as api:
        yield api


# --- the test video ----------------------------------------------------------------------------


def mark_index(frame: np.ndarray, index: int) -> np.ndarray:
    """Write `index` as 16 black/white 4x4 cells in rows 0-3, x = 4 + 4b (demo.js reads it)."""
    out = frame.copy()
    for bit in range(16):
        on = (index >> (15 - bit)) & 1
        out[0:4, 4 + 4 * bit : 8 + 4 * bit] = 255 if on else 0
    return out


def write_y4m(path: Path, frames: np.ndarray, fps: int) -> None:
    """(T, H, W, 3) uint8 RGB -> a 4:2:0 YUV4MPEG2 file (BT.601, limited range)."""
    t, h, w, _ = frames.shape
    rgb = frames.astype(np.float64)
    y = 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
    u = 128 + (-37.797 * rgb[..., 0] - 74.203 * rgb[..., 1] + 112.0 * rgb[..., 2]) / 255
    v = 128 + (112.0 * rgb[..., 0] - 93.786 * rgb[..., 1] - 18.214 * rgb[..., 2]) / 255

    def sub(c):  # 2x2 chroma average
        return c.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))

    planes = [np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (y, sub(u), sub(v))]
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(t):
            fh.write(b"FRAME\n")
            for p in planes:
                fh.write(p[i].tobytes())


@pytest.fixture(scope="module")
def demo_case(smoke_data, tmp_path_factory):
    """A cpu-preset LRINet run with a head fitted to SignWorld's test sentences, its demo page,
    and a y4m video of the first test sentences, one after another, frame-index marked."""
    root = tmp_path_factory.mktemp("demo")
    fit = fitted_signworld(Path(smoke_data))
    entries, vocab, spec, raw, model = fit.entries, fit.vocab, fit.spec, fit.raw, fit.model
    run = root / "run"
    save_model(run, model, model_meta(model, "cpu", spec, vocab, role="student"))
    frames = np.concatenate(raw[:SENTENCES])
    frames = np.stack([mark_index(f, i) for i, f in enumerate(frames)])
    video = root / "signworld-test.y4m"
    write_y4m(video, frames, fps=25)
    refs = [list(e.glosses) for e in entries[:SENTENCES]]
    return {"root": root, "run": run, "video": video, "frames": len(frames), "refs": refs}


def python_transcript(run: Path, frames: Path, capsys) -> list[str]:
    """`crkd predict --stream` on a folder of frames, with the page's stream settings."""
    args = ["predict", "--run", str(run), "--frames", str(frames), "--stream"]
    args += ["--window", str(CONFIG.window), "--hop", str(CONFIG.hop)]
    assert main([*args, "--margin", str(CONFIG.margin)]) == 0
    out = capsys.readouterr().out
    line = re.search(r"^(\d+) glosses: ?(.*)$", out, re.M)
    return line.group(2).split()


def page_frames(result: dict, size: int) -> np.ndarray:
    """The frames that the page took, as it grabbed them: (T, size, size, 3) uint8."""
    raw = [np.frombuffer(base64.b64decode(b), np.uint8) for b in result.pop("pixels")]
    return np.stack([r.reshape(size, size, 3) for r in raw])


def write_frames(folder: Path, frames: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"images{i + 1:04d}.png")
    return folder


class MarginRecordingOnnxHead(OnnxHeadEngine):
    """The page's head model in native onnxruntime, recording each window's top-1 margin."""

    def __init__(self, path: Path, threads: int):
        super().__init__(path, threads)
        self.margins: list[float] = []

    def __call__(self, features):
        logits = super().__call__(features)
        self.margins.append(top1_margin(torch.as_tensor(logits)))
        return logits


def native_stream(case: dict, page: Path, frames: np.ndarray) -> tuple[float, float]:
    """The page's streaming pair in native onnxruntime on `frames`: (frames per second of
    compute, the smallest top-1 margin of any window)."""
    meta = json.loads((case["run"] / "checkpoint.json").read_text("utf-8"))
    spec, head = ViewSpec(**meta["view"]), HeadConfig(**meta["net"]["head"])
    clip = model_input(frames, spec, "student", meta["input_size"])
    files = stream_files(page / "model.onnx")
    engine = MarginRecordingOnnxHead(files.head, 2)
    stream = IncrementalStreamingRecognizer(
        OnnxTrunkEngine(files.trunk, 2),
        engine,
        step_timing(head),
        CONFIG,
        25.0,
        min_frames(head),
    )
    for f in clip:
        stream.push(f)
    stream.flush()
    return len(clip) / sum(stream.report.window_compute_s), min(engine.margins)


# --- the browser -------------------------------------------------------------------------------


def launch(api, profile: Path, video: Path | None, fake_ui: bool = True):
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    if fake_ui:
        args.append("--use-fake-ui-for-media-stream")
    if video is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    return api.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=args
    )


@pytest.fixture(scope="module")
def served(demo_case):
    """The built page (ok/), one with another vocabulary (vocab/), one without its head model
    (missing/), served on a free localhost port."""
    site = demo_case["root"] / "site"
    ok = build_demo(demo_case["run"], site / "ok", CONFIG).folder
    shutil.copytree(ok, site / "vocab")
    settings = json.loads((ok / "demo.json").read_text("utf-8"))
    (site / "vocab" / "demo.json").write_text(
        json.dumps({**settings, "vocab": settings["vocab"][:5]})
    )
    shutil.copytree(ok, site / "missing")
    (site / "missing" / "model.head.onnx").unlink()
    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ok, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def page_result(context, url: str, timeout_s: float = 90) -> dict:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.crkdResult !== undefined", timeout=timeout_s * 1000)
    result = page.evaluate("() => window.crkdResult")
    result["status"] = page.inner_text("#status")
    page.close()
    return result


@pytest.fixture(scope="module")
def camera(playwright_api, demo_case, tmp_path_factory):
    """One headless Chromium whose fake camera plays the test video (fresh profile)."""
    context = launch(playwright_api, tmp_path_factory.mktemp("profile"), demo_case["video"])
    yield context
    context.close()


@pytest.mark.numerics
def test_page_transcript_equals_crkd_predict(camera, demo_case, served, capsys, tmp_path):
    """Python reads the pixels that the page grabbed, so that the two decoders' rounding is not
    compared; each window's margin is checked against the float noise between onnxruntime-web,
    native onnxruntime and PyTorch (1e-4 at most, tests/test_streaming.py)."""
    folder, url = served
    n = demo_case["frames"]
    result = page_result(camera, f"{url}ok/?frames={n}")
    assert "error" not in result, result
    assert result["frames"] == n
    assert result["cross_origin_isolated"] is True
    pre_size = json.loads((folder / "demo.json").read_text("utf-8"))["pre_size"]
    frames = page_frames(result, pre_size)
    decoded = np.stack(list(video_source(demo_case["video"], pre_size).frames))
    assert frames.shape == decoded.shape == (n, pre_size, pre_size, 3)
    assert np.abs(frames.astype(int) - decoded).max() <= DECODER_LEVELS
    expected = python_transcript(demo_case["run"], write_frames(tmp_path / "f", frames), capsys)
    native, margin = native_stream(demo_case, folder, frames)
    assert margin > MARGIN_WINDOW, margin
    assert result["glosses"] == expected, (result["glosses"], expected)
    refs = [g for r in demo_case["refs"] for g in r]
    record = {
        "wer_vs_reference": wer([refs], [result["glosses"]]).wer,
        "wer_python_vs_reference": wer([refs], [expected]).wer,
        "smallest_window_margin": margin,
        "page_inference_fps": result["inference_fps"],
        "native_onnxruntime_fps": native,
        "native_over_page": native / result["inference_fps"],
        "threads": result["threads"],
        "frames": n,
        "missed_and_rewaited": result["missed"],
    }
    (demo_case["root"] / "browser-result.json").write_text(json.dumps(record, indent=1))
    print("browser demo:", json.dumps(record))


BAD_INPUT = [
    ("ok", 1, "The video has 1 frames; the model needs at least"),
    ("vocab", 60, "comes from another vocabulary"),
    ("missing", 10, "Missing model model.head.onnx"),
]


@pytest.mark.parametrize("where,frames,message", BAD_INPUT)
def test_page_reports_bad_input(camera, served, where, frames, message):
    _, url = served
    result = page_result(camera, f"{url}{where}/?frames={frames}")
    assert message in result.get("error", ""), result
    assert message in result["status"]


@pytest.mark.parametrize(
    "fake_device,message",
    [(False, "camera"), (True, "permission was denied")],
    ids=["no-camera", "permission-denied"],
)
def test_page_without_camera_says_so(
    playwright_api, demo_case, served, tmp_path, fake_device, message
):
    """No fake UI: nothing grants the camera. Without a device the page finds no camera;
    with one, headless Chromium denies the permission prompt."""
    _, url = served
    video = demo_case["video"] if fake_device else None
    context = launch(playwright_api, tmp_path / "profile", video, fake_ui=False)
    try:
        result = page_result(context, f"{url}ok/?frames=10", timeout_s=30)
    finally:
        context.close()
    assert message in result.get("error", "").lower(), result
