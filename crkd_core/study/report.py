"""Compile a study into static HTML: one page per executed notebook (pages.py), `index.html`
(index.py), and beside them `study.json` and `headline.tex` (published.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..io import atomic_write_text
from .index import index_page, result
from .pages import notebook_page, write_assets
from .paths import display_path
from .profiles import NB_DISTILL
from .published import answers_record, headline_tex
from .report_types import PageStatus, Provenance

__all__ = ["PageStatus", "Provenance", "compile_report"]


def compile_report(
    study_dir: str | Path, reports: str | Path, statuses: list[PageStatus], prov: Provenance
) -> Path:
    """Write one page per executed notebook, `index.html`, `study.json` and `headline.tex` into
    `reports` (published.py says what the last two hold).

    `study.json` also goes into the study folder.
    """
    study_dir, reports = Path(study_dir), Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    write_assets(reports)
    for s in statuses:
        stale = reports / f"{s.notebook}.html"
        stale.unlink(missing_ok=True)  # never leave an older run's page behind
        if s.executed and Path(s.executed).is_file():
            notebook_page(s.executed, stale).chmod(0o644)
            s.page = stale.name
    pages = [
        {**asdict(s), "executed": s.executed and display_path(s.executed, study_dir)}
        for s in statuses
    ]
    answers, _ = result(study_dir, statuses, NB_DISTILL, "answers")
    runs, _ = result(study_dir, statuses, NB_DISTILL, "runs")
    record = _json(
        {
            "provenance": asdict(prov),
            "notebooks": pages,
            "answers": answers_record(answers),
            "runs": runs or [],
        }
    )
    atomic_write_text(study_dir / "study.json", record)  # beside the runs it describes
    written = [atomic_write_text(reports / "study.json", record)]
    (reports / "headline.tex").unlink(missing_ok=True)  # never an older study's table
    headline, _ = result(study_dir, statuses, NB_DISTILL, "headline")
    if headline:
        written.append(atomic_write_text(reports / "headline.tex", headline_tex(headline, prov)))
    index = atomic_write_text(reports / "index.html", index_page(study_dir, statuses, prov))
    for path in (index, *written):
        path.chmod(0o644)  # published pages: readable by all (atomic writes make them 0600)
    return index


def _json(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
