"""`crkd demo`: build the live camera page of a run and serve it on localhost.

The page (crkd_core/demo) runs the run's streaming LRINet in onnxruntime-web (WASM) on the
camera. It is served with COOP `same-origin` and COEP `require-corp`, so that it is
cross-origin isolated and WASM threads work; without them onnxruntime-web silently runs on one
thread. Open it from localhost: browsers give the camera only to secure origins.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
from pathlib import Path

from ..demo import ORT_FILES, build_demo, ort_dist, read_settings
from ..deploy.streaming import StreamConfig
from ..errors import ConfigError
from ._args import non_negative_int, port, positive_float, positive_int

HELP = "Build the live camera demo page of a run and serve it on localhost."


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="a run folder with checkpoint.*")
    src.add_argument(
        "--page",
        type=Path,
        help="serve a page built before (e.g. a study's reports/demo), adding "
        "onnxruntime-web from web/node_modules when the folder lacks it",
    )
    p.add_argument("--port", type=port, default=8000, help="localhost port (default 8000; 0: any)")
    p.add_argument("--out", type=Path, default=None, help="build here (default: a temp folder)")
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="build the page (with --page: complete its onnxruntime-web) and exit",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite a page's models exported from another run"
    )
    p.add_argument("--window", type=positive_int, default=64, help="stream: frames per window")
    p.add_argument("--hop", type=positive_int, default=8, help="stream: frames between windows")
    p.add_argument(
        "--margin", type=non_negative_int, default=12, help="stream: tail margin, frames"
    )
    p.add_argument("--fps", type=positive_float, default=25.0, help="frame rate for time spans")


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers of a cross-origin-isolated page, never cached."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
        ".json": "application/json",
    }

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # one line per file would bury the URL


def make_server(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    """A localhost server of `folder` (port 0: any free port)."""
    handler = functools.partial(IsolatedHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve on localhost port {port}: {exc.strerror}") from exc


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


def serve(folder: Path, port: int) -> None:
    server = make_server(folder, port)
    print(f"serving {folder} at http://localhost:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def run(args) -> int:
    if args.page is not None:
        page = add_runtime(args.page)
        if args.no_serve:
            print(f"checked {page}: a demo page with onnxruntime-web (not served: --no-serve)")
        else:
            serve(page, args.port)
        return 0
    cfg = StreamConfig(args.window, args.hop, args.margin)
    if args.out is None:
        if args.no_serve:
            raise ConfigError("--no-serve needs --out DIR (where to leave the page)")
        args.out = Path(tempfile.mkdtemp(prefix="crkd-demo-"))
    index = build_demo(args.run, args.out, cfg, args.fps, args.force)
    print(f"built {index} (run {args.run})")
    if not args.no_serve:
        serve(args.out, args.port)
    return 0
