"""The `crkd` console script.

Each subcommand lives in its own module under `crkd_core.commands`, which defines `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Modules are imported only when their command
runs, so `crkd --help` stays fast (torch is not imported for it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import CRKDError

COMMANDS = {
    "synth": "Draw the SignWorld synthetic dataset in the PHOENIX-2014 layout.",
    "train-teacher": "Train the high-resolution teacher with CTC (and the preset's visual CTC).",
    "distill": "Train LRINet on low-resolution input, distilled from a frozen teacher.",
    "evaluate": "Evaluate a run on a split and write eval-<split>-<decoder>.json.",
    "profile": "Params, GMACs per frame and measured fps of teacher and LRINet, side by side.",
    "score": "Score CTM hypotheses against STM references as the official scripts do.",
    "predict": "Recognise glosses in a video file, a frame folder or a camera stream.",
    "export": "Export a run's model to ONNX with a dynamic time axis.",
    "study": "Run the whole study (data, notebooks, report) for a profile.",
}


def module_name(command: str) -> str:
    return "crkd_core.commands." + command.replace("-", "_")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crkd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:  # import the module only for the command being run
            importlib.import_module(module_name(name)).add_arguments(p)
    return parser


def quiet_threads() -> None:
    """Let idle OpenMP threads sleep instead of spin (unless the user chose otherwise).

    Measured here (benchmarks/latency.py): on a shared 2-core machine, spinning threads of two
    processes starve each other, eager inference fell from ~790 to ~15 frames/s. Must run
    before torch is imported.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    quiet_threads()
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    args = build_parser(only=command).parse_args(argv)
    try:
        return int(importlib.import_module(module_name(args.command)).run(args) or 0)
    except CRKDError as exc:
        print(f"crkd {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
