"""What a study's report is made from: how each notebook went, and the study's provenance."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PageStatus:
    """How one notebook of the study went."""

    notebook: str
    status: str  # ok | failed | skipped
    seconds: float = 0.0
    error: str = ""
    page: str | None = None  # the HTML page, relative to the reports folder
    executed: str | None = None  # the executed notebook


@dataclass
class Provenance:
    profile: str
    seeds: list[int]  # the students'
    git_commit: str
    data: str
    study_dir: str
    command: str
    started: str
    wall_seconds: float  # the whole study, data to report
    extra: dict = field(default_factory=dict)
    teacher_seeds: list[int] = field(default_factory=list)
