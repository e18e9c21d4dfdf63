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
import traceback

from .errors import CRKDError

COMMANDS = {
    "synth": "Draw the SignWorld synthetic dataset in the PHOENIX-2014 layout.",
    "train-teacher": "Train the high-resolution teacher with CTC (and the preset's visual CTC).",
    "distill": "Train LRINet on low-resolution input, distilled from a frozen teacher.",
    "evaluate": "Evaluate a run on a split and write eval-<split>-<decoder>.json.",
    "profile": "Params, GMACs per frame and measured fps of teacher and LRINet, side by side.",
    "compare": "Compare two systems' runs (seeds) with a paired bootstrap over test sentences.",
    "score": "Score CTM hypotheses against STM references as the official scripts do.",
    "predict": "Recognise glosses in a video file, a frame folder or a camera stream.",
    "export": "Export a run's model to ONNX with a dynamic time axis.",
    "demo": "Build the live camera demo page of a run and serve it on localhost.",
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
    try:  # parsing imports the command's module (torch): Ctrl-C often lands here
        args = build_parser(only=command).parse_args(argv)
    except KeyboardInterrupt:
        print(f"crkd{' ' + command if command else ''}: interrupted", file=sys.stderr)
        return 130
    args.argv = list(argv)  # what command.txt records
    try:
        return int(importlib.import_module(module_name(args.command)).run(args) or 0)
    except KeyboardInterrupt:
        print(f"crkd {args.command}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it
    except BrokenPipeError:
        sys.stderr.close()  # `crkd ... | head`: the reader left; nothing more to say
        return 141  # 128 + SIGPIPE
    except Exception as exc:  # noqa: BLE001 - sorted into expected and internal below
        return report_error(args.command, exc)


# Exceptions that a user's input or environment causes, though not raised by this package on
# purpose: reported in one line. Matched by name, so that PIL and onnxruntime are not imported.
EXPECTED_FOREIGN = {
    "DecompressionBombError": "image too large (refused as a possible decompression bomb)",
    "InvalidProtobuf": "not a valid ONNX model file",
    "InvalidGraph": "not a valid ONNX model",
    "InvalidArgument": "the ONNX model refused its input",
    "Fail": "onnxruntime failed",
    "DecodeError": "not a valid ONNX file (its protobuf does not parse)",  # onnx.load
}
FOREIGN_MODULES = ("PIL", "onnxruntime", "google")


def describe_error(exc: BaseException) -> str | None:
    """One line naming the path and the cause of an expected error, or None for a bug."""
    if isinstance(exc, CRKDError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        cause = exc.strerror or type(exc).__name__
        other = f" -> {exc.filename2}" if exc.filename2 else ""
        return f"{exc.filename}{other}: {cause} ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror or exc} ({type(exc).__name__})"  # e.g. no space left on device
    name = type(exc).__name__
    if name in EXPECTED_FOREIGN and type(exc).__module__.split(".")[0] in FOREIGN_MODULES:
        return f"{EXPECTED_FOREIGN[name]}: {exc}"
    return None


def report_error(command: str, exc: Exception) -> int:
    """Print an expected error in one line (exit 2); show a bug's traceback, labelled (exit 1).

    A bug keeps its traceback: hiding it would lose what is needed to fix it, and the label tells
    the user that their input was not at fault. `CRKD_TRACEBACK=1` shows the traceback of
    expected errors too.
    """
    line = describe_error(exc)
    if line is not None and not os.environ.get("CRKD_TRACEBACK"):
        print(f"crkd {command}: error: {line}", file=sys.stderr)
        return 2
    traceback.print_exception(exc, file=sys.stderr)
    if line is None:
        print(
            f"crkd {command}: internal error ({type(exc).__name__}): this is a bug in crkd, not "
            "in your input; please report it with the traceback above",
            file=sys.stderr,
        )
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
