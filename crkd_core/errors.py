"""Error types. An error about input names the file, the row (when there is one) and the cause."""

from __future__ import annotations

from pathlib import Path

WORKER_MARK = "Original Traceback"


def worker_message(message: str) -> str:
    """The original message inside a DataLoader worker's re-raised text, else `message`.

    torch re-raises an exception from a worker as `type(text)`, where the text holds the
    worker's whole traceback; its last line is `module.Type: <the original message>`.
    """
    if WORKER_MARK not in message:
        return message
    last = message.rstrip().splitlines()[-1]
    head, sep, rest = last.partition(": ")
    return rest if sep and "Error" in head else last


class CRKDError(Exception):
    """Base class of every error this package raises on purpose."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str):
            args = (worker_message(args[0]),)
        super().__init__(*args)


def _message_only(exc: CRKDError, path, cause) -> bool:
    """For `Error(message)`, the one-argument form that torch uses to re-raise from a worker."""
    if cause is not None:
        return False
    CRKDError.__init__(exc, str(path))
    exc.path, exc.cause, exc.row = "", str(exc), None
    return True


class DataError(CRKDError, ValueError):
    """A dataset file or frame is missing, malformed or inconsistent.

    Args:
        path: the file (or folder) at fault.
        cause: what is wrong, in words.
        row: 1-based line number in a text file (the header is line 1), or a sample id.
    """

    def __init__(self, path: str | Path, cause: str | None = None, row: int | str | None = None):
        if _message_only(self, path, cause):
            return
        self.path = str(path)
        self.row = row
        self.cause = cause
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}: {cause}")


class VocabError(DataError):
    """A gloss is not in the vocabulary, or the vocabulary itself is unusable."""


class CheckpointError(CRKDError):
    """A checkpoint is missing, truncated, unsafe, or does not fit the model or the data."""

    def __init__(self, path: str | Path, cause: str | None = None):
        if _message_only(self, path, cause):
            return
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class FileFormatError(CRKDError, ValueError):
    """A file the tool reads back (a run's JSON, a lock, an export) is unreadable or malformed.

    Args:
        path: the file at fault.
        cause: what is wrong, in words.
    """

    def __init__(self, path: str | Path, cause: str | None = None):
        if _message_only(self, path, cause):
            return
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class ConfigError(CRKDError, ValueError):
    """A configuration value is invalid (unknown preset, impossible size, ...)."""


class NumericalError(CRKDError, FloatingPointError):
    """A loss or an input became NaN or Inf."""


class ToolMissingError(CRKDError, FileNotFoundError):
    """An external tool that was asked for (sclite, chromium) is not installed."""
