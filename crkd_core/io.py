"""Atomic file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a crash) therefore sees either the old file or the new one, never half of one.
`tempfile.mkstemp` creates its file with mode 0600; the file is given the mode that a plain
`open()` would have given it (0666 less the umask) before the rename, so that teammates on a
shared machine can read each other's runs when the umask allows it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, FileFormatError
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
    tmp_path = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, default_file_mode())
        maybe_fail("checkpoint_write")  # a kill here leaves only the temporary file
        os.replace(tmp_path, path)
    except OSError as exc:
        raise write_error(exc, path) from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
    return path


# A disk that cannot take the file: the old file (if any) is kept, so say so.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def write_error(exc: OSError, path: Path) -> OSError:
    """`exc` renamed to the file being written: a write or fsync error names no file, and one
    of the temporary file names a file that the user never asked for and that is gone."""
    named = exc.filename
    ours = (
        named is None or named == str(path.parent) or Path(named).name.startswith(f".{path.name}.")
    )
    if not ours:
        return exc  # names another file already (a folder in the way, a missing parent)
    cause = exc.strerror or str(exc)
    if exc.errno in _NO_ROOM:
        cause += "; nothing was written there (an older copy, if any, is unchanged)"
    return OSError(exc.errno, f"cannot write: {cause}", str(path))  # the errno's subclass


@contextmanager
def exclusive_lock(path: Path, busy: Callable[[str], Exception]) -> Iterator[None]:
    """Hold an exclusive, non-blocking flock on the file `path`; raise `busy(pid)` (the pid that
    the holder wrote there) if another process holds it.

    The kernel drops a flock when its process dies, so a lock left by a killed run never blocks.
    The file is removed on release while still locked; a process that opened it meanwhile
    finds, once it gets the lock, that its file is no longer the one at the path, and retries.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise busy(holder) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed this file as we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
    except OSError:
        return "unknown"


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


def is_run_folder(path: Path) -> bool:
    """Whether `path` holds a run: its config.json and what a run writes beside it."""
    marks = ("metrics.json", "checkpoint.json", "last.safetensors", "git.txt", "command.txt")
    return (path / "config.json").is_file() and any((path / m).exists() for m in marks)


def owning_run(path: Path) -> Path | None:
    """The run folder that `path` would land in (the nearest one above it), or None."""
    for parent in Path(path).absolute().parents:
        if is_run_folder(parent):
            return parent
    return None


def check_output(out: Path, inputs: dict[str, Path], option: str = "--json") -> None:
    """Refuse, before any work, an output file that is one of the inputs or lies in a run folder.

    Args:
        out: the file the command will write.
        inputs: the command's input files, by the option that names them.
        option: the option that names `out`, for the message.
    """
    out = Path(out)
    for name, path in inputs.items():
        if out.is_file() and Path(path).is_file() and os.path.samefile(out, path):
            raise ConfigError(f"{out}: {option} would overwrite the input {name}; choose another")
    run = owning_run(out.resolve() if out.exists() else out)
    if run is not None:
        raise ConfigError(
            f"{out}: {option} would write inside the run folder {run}, which this command does "
            "not own; choose a file outside it"
        )
