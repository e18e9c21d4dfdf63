"""Fault injection for the crash-safety tests: kill this process at a named point.

`CRKD_FAULT=<point>:<n>` makes the n-th arrival at `maybe_fail(<point>)` send SIGKILL to the
process itself, as a power cut or the OOM killer would. Unset (always, outside tests), it costs
one dictionary lookup. Points: `train_step`, `checkpoint_write`, `evaluate_batch`.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def maybe_fail(point: str) -> None:
    spec = os.environ.get("CRKD_FAULT")
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
