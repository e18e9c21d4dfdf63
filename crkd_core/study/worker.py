"""One grid point in its own process: `python -m crkd_core.study.worker CONFIG.json`.

The study writes the point's `StudentRunConfig` as JSON and starts this module, so that points
run in parallel with one thread each; the typed config crosses the process boundary, not argv.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import CRKDError
from ..experiment import StudentRunConfig, distill
from ..io import read_json


def main(path: str) -> int:
    config = Path(path)
    cfg = StudentRunConfig(**read_json(config))
    try:
        distill(cfg, command=f"study grid point {config.stem}: {cfg.as_call('distill')}")
    except CRKDError as exc:
        print(f"grid point {config.stem}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
