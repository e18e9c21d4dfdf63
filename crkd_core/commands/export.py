"""`crkd export`: a run's model as ONNX (dynamic T, legacy exporter, opset 17), optionally int8.

Writes the whole-clip model and, beside it, the streaming pair of `crkd predict --stream` and
`crkd demo`, by the export policy of `deploy.package` (never over another run's files unless
`--force`, never into another run's folder), and prints each file with its size and the largest
logit difference to PyTorch at two clip lengths, so that a broken export shows at once.
"""

from __future__ import annotations

from pathlib import Path

from ..deploy.package import ExportConfig, export_run
from ..deploy.quantize import MODES
from ._args import config_from_args, positive_int


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


def run(args) -> int:
    export_run(config_from_args(ExportConfig, args), on_file=print)
    return 0
