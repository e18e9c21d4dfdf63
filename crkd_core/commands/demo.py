"""`crkd demo`: build the live camera page of a run and serve it on localhost.

The page (crkd_core/demo) runs the streaming LRINet in onnxruntime-web, served by demo/server.py.
"""

from __future__ import annotations

from pathlib import Path

from ..demo import DemoConfig, prepare_demo
from ..demo.server import make_server, serve_until_stopped
from ..errors import ConfigError
from ._args import config_from_args, non_negative_int, port, positive_float, positive_int


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


def serve(folder: Path, port: int) -> None:
    server = make_server(folder, port)
    print(f"serving {folder} at http://localhost:{server.server_address[1]}/ (Ctrl-C stops)")
    serve_until_stopped(server)


def run(args) -> int:
    cfg = config_from_args(DemoConfig, args)
    if cfg.run is not None and cfg.out is None and args.no_serve:
        raise ConfigError("--no-serve needs --out DIR (where to leave the page)")
    page = prepare_demo(cfg)
    if page.run is not None:
        print(f"built {page.index} (run {page.run})")
    elif args.no_serve:
        print(f"checked {page.folder}: a demo page with onnxruntime-web (not served: --no-serve)")
    if not args.no_serve:
        serve(page.folder, args.port)
    return 0
