"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a crash) therefore sees either the old file or the new one, never half of one.
`tempfile.mkstemp` creates its file with mode 0600; the file is given the mode that a plain
`open()` would have given it (0666 less the umask) before the rename, so that teammates on a
shared machine can read each other's runs when the umask allows it.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import FileFormatError
from .faults import maybe_fail

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask. POSIX can only read it by setting it, hence the lock and the restore."""
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0666 less the umask."""
    return 0o666 & ~current_umask()


def make_parent(path: Path) -> None:
    """Create `path`'s folder; a file in the way is named (mkdir would say "File exists")."""
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(parent))
            break
    path.parent.mkdir(parents=True, exist_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, then move tmp_path over `path` in one rename."""
    path = Path(path)
    if path.is_dir():  # else os.replace fails late, naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, default_file_mode())
        maybe_fail("checkpoint_write")  # a kill here leaves only the temporary file
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(
        path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )


def read_json(path: str | Path, error: Callable[[str], Exception] | None = None):
    """Read JSON, turning unreadable or malformed files into `error(cause)` when given.

    Without `error`, a file that is not UTF-8 JSON raises FileFormatError naming the file (a
    ValueError, as json's own error is); an OSError (missing, permission denied) propagates.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        if error is not None:
            raise error(f"cannot read JSON: {exc}") from exc
        if isinstance(exc, OSError):
            raise
        raise FileFormatError(path, f"not valid JSON ({exc}); the file is damaged") from exc
