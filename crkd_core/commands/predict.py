"""`crkd predict`: glosses of a video file, a frame folder or a camera, with their time spans.

Prints what `deploy.predict` finds (which says how frames are viewed and streamed), as it comes.
"""

from pathlib import Path

from ..deploy.predict import DECODERS, STREAM_MODES, PredictConfig, predict
from ._args import (
    beam_width,
    config_from_args,
    non_negative_int,
    positive_float,
    positive_int,
    threads,
)


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, type=Path, help="a run folder with checkpoint.*")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a video file (read with PyAV)")
    src.add_argument("--frames", type=Path, help="a folder of RGB frame images")
    src.add_argument(
        "--camera", type=non_negative_int, metavar="N", help="camera index (needs OpenCV)"
    )
    p.add_argument("--onnx", type=Path, default=None, help="run this exported model instead")
    p.add_argument("--decoder", default="greedy", choices=list(DECODERS))
    p.add_argument("--beam-width", type=beam_width, default=10)
    p.add_argument(
        "--fps", type=positive_float, default=None, help="frame rate (default: the video's)"
    )
    p.add_argument(
        "--max-frames", type=positive_int, default=None, help="stop after this many frames"
    )
    p.add_argument("--threads", type=threads, default=None)
    p.add_argument("--stream", action="store_true", help="emit glosses as they become stable")
    p.add_argument("--window", type=positive_int, default=64, help="--stream: frames per window")
    p.add_argument("--hop", type=positive_int, default=8, help="--stream: frames between windows")
    p.add_argument(
        "--margin", type=non_negative_int, default=12, help="--stream: tail margin, frames"
    )
    p.add_argument(
        "--mode",
        default="incremental",
        choices=list(STREAM_MODES),
        help="--stream: every frame through the trunk once (default), or the whole window "
        "every hop",
    )
    p.add_argument(
        "--chunk",
        type=positive_int,
        default=None,
        help="--stream incremental: frames per trunk call (default: the hop)",
    )


def run(args) -> int:
    result = predict(config_from_args(PredictConfig, args), on_open=print, on_gloss=print)
    if result.stream is not None:
        print(result.stream)
    print(result)
    return 0
