"""Error types. An error about input names the file, the row (when there is one) and the cause."""

from __future__ import annotations

from pathlib import Path


class CRKDError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(CRKDError, ValueError):
    """A dataset file or frame is missing, malformed or inconsistent.

    Args:
        path: the file (or folder) at fault.
        cause: what is wrong, in words.
        row: 1-based line number in a text file (the header is line 1), or a sample id.
    """

    def __init__(self, path: str | Path, cause: str, row: int | str | None = None):
        self.path = str(path)
        self.row = row
        self.cause = cause
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}: {cause}")


class VocabError(DataError):
    """A gloss is not in the vocabulary, or the vocabulary itself is unusable."""


class CheckpointError(CRKDError):
    """A checkpoint is missing, truncated, unsafe, or does not fit the model or the data."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class FileFormatError(CRKDError, ValueError):
    """A file the tool reads back (a run's JSON, a lock, an export) is unreadable or malformed.

    Args:
        path: the file at fault.
        cause: what is wrong, in words.
    """

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class ConfigError(CRKDError, ValueError):
    """A configuration value is invalid (unknown preset, impossible size, ...)."""


class NumericalError(CRKDError, FloatingPointError):
    """A loss or an input became NaN or Inf."""


class ToolMissingError(CRKDError, FileNotFoundError):
    """An external tool that was asked for (sclite, chromium) is not installed."""
