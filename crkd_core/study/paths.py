"""Where a study's runs live; a run folder's name holds everything that defines it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .profiles import HEADLINE_ARMS

REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str | Path) -> Path:
    """An absolute path; a relative one is taken from the repository root, not the cwd.

    Notebooks run with their own folder as cwd in Jupyter and with the study's under papermill;
    this makes the defaults of the parameters cell mean the same in both.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def display_path(path: str | Path, base: Path | None = None) -> str:
    """A path as published (reports, study.json): relative to `base` (default: the repository)
    when inside it, else only its last two parts, so no machine's folders are shown."""
    p = Path(path)
    for root in (base, REPO_ROOT):
        if root is not None and p.is_absolute() and p.is_relative_to(root.resolve()):
            return p.relative_to(root.resolve()).as_posix() or "."
    if not p.is_absolute():
        return p.as_posix()
    return "<outside the repository>/" + "/".join(p.parts[-2:])


@dataclass(frozen=True)
class GridPoint:
    """One LRINet run of the study: a KD setting at a size, for a seed, by a stopping rule."""

    size: int
    setting: str
    epochs: int  # the most it trains
    seed: int
    # the weight sweep's KD: (term, weight) pairs; () is the setting's, at the preset's weights
    weights: tuple[tuple[str, float], ...] = ()
    patience: int | None = None  # the plateau rule (`crkd distill --patience/--min-epochs`)
    min_epochs: int = 0

    @property
    def weighted(self) -> bool:
        return bool(self.weights)

    @property
    def name(self) -> str:
        w = "".join(f"-{WEIGHT_TAGS.get(t, t)}{x:g}" for t, x in self.weights)
        stop = stop_tag(self.patience, self.min_epochs)
        return f"s{self.size}-{self.setting}{w}-e{self.epochs}{stop}-seed{self.seed}"


def stop_tag(patience: int | None, min_epochs: int) -> str:
    """A run name's part that holds its plateau rule: "-p3-min8", "-p3", or "" (none)."""
    tag = f"-p{patience}" if patience else ""
    return tag + (f"-min{min_epochs}" if patience and min_epochs else "")


# A term's tag in a sweep point's name: the published runs' (-a10-b5), others by their name
WEIGHT_TAGS = {"feature": "a", "logit": "b"}
# A headline arm's KD setting -> its run folders' prefix
HEADLINE_KINDS = {setting: kind for kind, setting in HEADLINE_ARMS.items()}


@dataclass(frozen=True)
class StudyPaths:
    """Where the runs of a study live; names hold size, KD setting, epochs and seed."""

    root: Path

    def teacher(
        self, epochs: int, seed: int, patience: int | None = None, min_epochs: int = 0
    ) -> Path:
        """`epochs` is the most it trains; `patience` (when set) stops it at a plateau, but not
        before `min_epochs`."""
        return self.root / "runs" / f"teacher-e{epochs}{stop_tag(patience, min_epochs)}-seed{seed}"

    def student(
        self,
        kind: str,
        size: int,
        epochs: int,
        seed: int,
        patience: int | None = None,
        min_epochs: int = 0,
    ) -> Path:
        stop = stop_tag(patience, min_epochs)
        return self.root / "runs" / f"{kind}-s{size}-e{epochs}{stop}-seed{seed}"

    def point(self, p: GridPoint) -> Path:
        """A point of a headline arm (`HEADLINE_KINDS`) is 02's run: never done twice."""
        kind = HEADLINE_KINDS.get(p.setting)
        if kind and not p.weighted:
            return self.student(kind, p.size, p.epochs, p.seed, p.patience, p.min_epochs)
        return self.root / "runs" / "ablation" / p.name

    @property
    def teacher_cache(self) -> Path:
        """The frozen teachers' outputs, shared by the students of a teacher (`TeacherCache`)."""
        return self.root / "teacher-cache"

    def point_log(self, p: GridPoint) -> Path:
        return self.root / "runs" / "ablation" / "logs" / f"{p.name}.log"

    def notebook(self, name: str) -> Path:
        return self.root / name
