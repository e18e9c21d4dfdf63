"""One speed per model per study: every architecture is timed once, and every page reads that.

The pages of a study show the same networks (the teacher, LRINet at the headline's size) in
several tables: 02's headline, 03's grid and 05's cost table. Timed in each, one model showed
1,962, 2,767 and 2,254 fps on three pages. Here the first page that needs an architecture
times it (side by side with the others it needs, `cost.costs_side_by_side`) and records the
result in `<study>/costs.json`; later pages read it. fps depends on the architecture, not on
the weights, so a trained LRINet and a fresh one of the same config and classes share their
entry; 05's PHOENIX-sized classifiers are other models, and have entries of their own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..cost import costs_side_by_side
from ..errors import FileFormatError
from ..io import atomic_write_json
from ..models.network import SLRNet
from .profiles import StudyProfile

COSTS_FILE = "costs.json"
NUMBERS = ("params", "gmacs_per_frame", "fps")


def arch_key(preset: str, model: SLRNet, frames: int) -> str:
    """What an fps depends on: the preset's network of this role, variant and input size, its
    classifier's classes (05 sizes it for PHOENIX-2014, the trained runs for their data), and
    the clip length it was timed on."""
    c = model.cfg
    return f"{preset}/{c.role}-{c.variant}-{c.input_size}px-{model.num_classes}c-{frames}f"


def read_costs(path: Path) -> dict[str, dict]:
    """The costs recorded so far ({} when none); every number checked (the file is untrusted)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise FileFormatError(path, f"not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FileFormatError(path, "must hold an object of model costs")
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise FileFormatError(path, f"{key!r}: must be an object")
        for name in NUMBERS:
            v = entry.get(name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or v <= 0:
                raise FileFormatError(path, f"{key!r}: {name} must be a finite number > 0")
    return data


def study_costs(
    study: Path, preset: str, models: dict[str, SLRNet], plan: StudyProfile
) -> dict[str, dict]:
    """Params, GMACs/frame and fps of `models` by name: each architecture as the study first
    timed it; those not timed yet are timed now, side by side, and recorded."""
    path = Path(study) / COSTS_FILE
    known = read_costs(path)
    keys = {name: arch_key(preset, m, plan.profile_frames) for name, m in models.items()}
    todo = {}
    for name, key in keys.items():
        if key not in known and key not in todo:
            todo[key] = models[name]
    if todo:
        measured = costs_side_by_side(
            todo, plan.profile_frames, plan.profile_repeats, plan.profile_seconds
        )
        known |= {k: {**v, "measured_with": sorted(todo)} for k, v in measured.items()}
        atomic_write_json(path, known)
    return {name: known[key] for name, key in keys.items()}
