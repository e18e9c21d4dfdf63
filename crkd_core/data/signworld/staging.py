"""The hidden folders beside a SignWorld target while it is drawn, and the lock that guards them.

`crkd synth --out D` draws into `.D.partial-<hex>` beside D and renames it to D at the end; with
`--force`, the old D is first renamed to `.D.old-<hex>` and removed after the swap. A kill (power
cut, OOM killer, SIGKILL) can leave either behind. Under the lock `.D.lock`, no other run is
drawing D, so the next run may safely remove them, and says so. The lock also makes a second
concurrent run into the same D fail at once, instead of both reporting success.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import DataError
from ...io import exclusive_lock

PARTIAL = ".partial-"
OLD = ".old-"


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextmanager
def target_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking flock on `.<out>.lock`; DataError if another run holds it.

    The lock file is removed on release while still locked. A run that opened it meanwhile
    finds, once it gets the lock, that its file is no longer the one at the path, and retries.
    """
    path = lock_path(out)
    for parent in (out.parent, *out.parent.parents):  # the nearest existing one must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise DataError(parent, f"is a file, so --out {out} cannot be created below it")
            break
    path.parent.mkdir(parents=True, exist_ok=True)

    def busy(holder: str) -> DataError:
        return DataError(
            out,
            f"another `crkd synth` (pid {holder}) is drawing into this folder (it holds "
            f"{path.name}); wait for it to finish or choose another --out",
        )

    with exclusive_lock(path, busy):
        yield


def leftovers(out: Path) -> tuple[list[Path], list[Path]]:
    """(partial folders, old datasets) that interrupted runs left beside `out`."""
    if not out.parent.is_dir():
        return [], []
    mine = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    partial = sorted(p for p in mine if p.name.startswith(f".{out.name}{PARTIAL}"))
    old = sorted(p for p in mine if p.name.startswith(f".{out.name}{OLD}"))
    return partial, old


def recover_leftovers(out: Path, report: Callable[[str], None]) -> None:
    """Remove what interrupted runs left beside `out`, or restore `out` from an old copy.

    Call only under `target_lock(out)`. A `.old-` folder with no `out` means a run was killed in
    the middle of replacing `out`: the old dataset is the only complete copy, so it is renamed
    back rather than removed.
    """
    partial, old = leftovers(out)
    for p in partial:
        shutil.rmtree(p)
        report(f"removed {p}, the partial dataset of an interrupted `crkd synth`")
    for p in old:
        if not out.exists():
            os.rename(p, out)
            report(f"restored {out} from {p.name}, left by a `crkd synth --force` killed mid-swap")
        else:
            shutil.rmtree(p)
            report(f"removed {p}, a replaced dataset that an interrupted run did not delete")
