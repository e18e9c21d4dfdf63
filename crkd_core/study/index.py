"""The study's index page, written by hand: answers, headline, runs, ablation, pages,
provenance.

Every string in it goes through `html.escape`: glosses and ids come from datasets, and a
dataset is not trusted. A notebook that failed is shown as FAILED with its error, linked to its
partial page; the index never shows an older success in its place (`result` reads a notebook's
results only when it succeeded in this study run).
"""

from __future__ import annotations

import html
import platform
import time
from pathlib import Path

from ..io import read_json
from ..plots import learning_curves, pareto
from .pages import PLOTLY_JS
from .profiles import NB_ABLATION, NB_DISTILL
from .report_types import PageStatus, Provenance

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
.ok { color: #1a7f37; font-weight: bold; } .failed { color: #cf222e; font-weight: bold; }
.skipped, .not { color: #9a6700; font-weight: bold; }
.banner { background: #ffebe9; border: 1px solid #cf222e; padding: 0.6em 1em; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: 0.5em; max-height: 16em;
      overflow: auto; text-align: left; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def table(rows: list[dict], columns: dict[str, str]) -> str:
    """An HTML table of `rows`; `columns` maps keys to headers. Every cell is escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in columns.values())
    body = []
    for r in rows:
        cells = "".join(
            f"<td{' class=text' if isinstance(r.get(k), str) else ''}>{esc(fmt(r.get(k)))}</td>"
            for k in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


HEADLINE_COLUMNS = {
    "model": "model",
    "input_size": "input px",
    "wer_text": "test WER %: mean ± std over teachers [95 % t interval]",
    "gap_text": "gap to its own teacher [95 % interval]",
    "seeds_text": "seeds",
    "gmacs_text": "GMACs / frame (x teacher)",
    "params": "params",
    "fps": "inference fps",
    "train_fps": "training frames/s",
}


def wer_text(r: dict) -> str:
    """`mean ± std [low, high]`, or the single value and a note when one seed gives no spread."""
    std, low, high = (r.get(k) for k in ("wer_std", "wer_ci_low", "wer_ci_high"))
    if r.get("seeds", 1) < 2 or not _finite(std):
        return f"{r['wer']:.2f} (one seed: no interval)"
    ci = f" [{low:.2f}, {high:.2f}]" if _finite(low) and _finite(high) else ""
    return f"{r['wer']:.2f} ± {std:.2f}{ci}"


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and v == v and abs(v) != float("inf")


def gap_text(r: dict) -> str:
    """A student arm's gap to its own teacher with the hierarchical interval; "" for the
    teacher."""
    if r.get("gap_difference") is None:
        return ""
    tie = " (tie)" if r["gap_ci_low"] <= 0 <= r["gap_ci_high"] else ""
    return f"{r['gap_difference']:+.1f} [{r['gap_ci_low']:+.1f}, {r['gap_ci_high']:+.1f}]{tie}"


def headline_html(rows: list[dict] | None, why: str) -> str:
    if not rows:
        return f"<p class=failed>Headline not available: {esc(why)}</p>"
    rows = [
        {
            **r,
            "wer_text": wer_text(r),
            "gap_text": gap_text(r),
            "seeds_text": ", ".join(map(str, r.get("seed_list", []))) or r.get("seeds"),
            "gmacs_text": f"{r['gmacs_per_frame']:.3g} ({r.get('gmacs_ratio', 1.0):.3g}x)",
        }
        for r in rows
    ]
    return table(rows, HEADLINE_COLUMNS)


RUN_COLUMNS = {
    "arm": "arm",
    "teacher_seed": "teacher seed",
    "seed": "seed",
    "wer": "test WER %",
    "best_dev_wer": "best dev WER %",
    "best_epoch": "best epoch",
    "epochs": "epochs run",
    "max_epochs": "of at most",
    "verdict": "converged?",
}


def runs_html(rows: list[dict] | None) -> str:
    """Every headline run, with whether its best dev epoch came before its last."""
    if not rows:
        return ""
    flagged = sum(not r["converged"] for r in rows)
    note = (
        f"<p class=not>{flagged} of {len(rows)} runs did not converge: their best dev WER is "
        "at their last epoch, so they were still improving when they stopped.</p>"
        if flagged
        else f"<p class=ok>All {len(rows)} runs converged (best dev epoch before the last).</p>"
    )
    return note + table(rows, RUN_COLUMNS)


def curves_html(rows: list[dict] | None) -> str:
    """Each headline run's learning curves (train loss, dev WER per epoch)."""
    if not rows:
        return ""
    import plotly.io as pio

    logs = {f"{r['arm']} seed {r['seed']} (teacher {r['teacher_seed']})": r["curve"] for r in rows}
    fig = learning_curves(logs, "Headline runs: learning curves")
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False})


def answers_html(rows: list[dict] | None, why: str) -> str:
    """Each question of the study, answered in one sentence with its interval (a difference
    whose interval holds zero is called a tie there)."""
    if rows is None:
        return f"<ul><li class=failed>not available: {esc(why)}</li></ul>"
    items = [f"<li><b>{esc(r['question'])}</b> {esc(r['answer'])}</li>" for r in rows]
    return f"<ul>{''.join(items)}</ul>"


GRID_COLUMNS = {
    "size": "input px",
    "setting": "KD setting",
    "wer_text": "test WER %: mean ± std [95 % CI]",
    "seeds": "seeds",
    "gmacs_per_frame": "GMACs / frame",
    "fps": "inference fps",
    "train_fps": "training frames/s",
}


def grid_html(rows: list[dict] | None) -> str:
    """Every grid point's WER with its seeds: rows with fewer seeds say so."""
    if not rows:
        return ""
    rows = [{**r, "wer_text": wer_text(r)} for r in rows]
    return table(rows, GRID_COLUMNS)


def pareto_html(rows: list[dict] | None, why: str) -> str:
    if not rows:
        return f"<p class=failed>Pareto plot not available: {esc(why)}</p>"
    import pandas as pd
    import plotly.io as pio

    fig = pareto(pd.DataFrame(rows), "Resolution ablation: WER against cost")
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False})


def pages_html(statuses: list[PageStatus]) -> str:
    rows = []
    for s in statuses:
        link = f'<a href="{esc(s.page)}">{esc(s.notebook)}</a>' if s.page else esc(s.notebook)
        err = f"<pre>{esc(s.error)}</pre>" if s.error else ""
        rows.append(
            f"<tr><td class=text>{link}</td><td class={esc(s.status.split()[0])}>"
            f"{esc(s.status.upper())}</td><td>{s.seconds:.0f} s</td>"
            f"<td class=text>{err}</td></tr>"
        )
    head = "<tr><th>notebook</th><th>status</th><th>wall time</th><th>error</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def provenance_html(p: Provenance) -> str:
    items = {
        "profile": p.profile,
        "teacher seeds": ", ".join(map(str, p.teacher_seeds)),
        "student seeds": ", ".join(map(str, p.seeds)),
        "git commit": p.git_commit,
        "data": p.data,
        "study folder": p.study_dir,
        "command": p.command,
        "started": p.started,
        "wall time": f"{p.wall_seconds:.0f} s",
        "compiled": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        **p.extra,
    }
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td class=text>{esc(v)}</td></tr>" for k, v in items.items()
    )
    return f"<table>{rows}</table>"


def result(
    study_dir: Path, statuses: list[PageStatus], notebook: str, name: str
) -> tuple[list[dict] | None, str]:
    """A notebook's result JSON, only when the notebook succeeded in this study run."""
    st = next((s for s in statuses if s.notebook == notebook), None)
    if st is None or st.status != "ok":
        return None, f"{notebook} {st.status.upper() if st else 'was not run'}"
    path = study_dir / notebook / f"{name}.json"
    if not path.is_file():
        return None, f"{path} is missing"
    return read_json(path), ""


def index_page(study_dir: Path, statuses: list[PageStatus], prov: Provenance) -> str:
    """The study's index: status, headline table, Pareto plot, pages, provenance."""
    failed = [s for s in statuses if s.status in ("failed", "skipped")]
    banner = (
        (
            f"<p class=banner>{len(failed)} notebook(s) did not succeed: "
            f"{esc(', '.join(s.notebook for s in failed))}</p>"
        )
        if failed
        else ""
    )
    head_rows, head_why = result(study_dir, statuses, NB_DISTILL, "headline")
    answers, answers_why = result(study_dir, statuses, NB_DISTILL, "answers")
    runs, _ = result(study_dir, statuses, NB_DISTILL, "runs")
    grid_rows, grid_why = result(study_dir, statuses, NB_ABLATION, "grid")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CRKD study ({esc(prov.profile)})</title>
<script type="text/javascript" src="{PLOTLY_JS}"></script><style>{STYLE}</style></head>
<body><h1>CRKD study: profile {esc(prov.profile)}</h1>{banner}
<h2>Answers</h2>{answers_html(answers, answers_why)}
<p>Each interval is a 95 % hierarchical bootstrap over the teachers, each teacher's students
and the test sentences; a difference whose interval holds zero is a tie.</p>
<h2>Teacher vs LRINet</h2>{headline_html(head_rows, head_why)}
<h2>Headline runs: did they converge?</h2>{runs_html(runs)}{curves_html(runs)}
<h2>Resolution ablation</h2>{pareto_html(grid_rows, grid_why)}{grid_html(grid_rows)}
<h2>Notebooks</h2>{pages_html(statuses)}
<h2>Provenance</h2>{provenance_html(prov)}
</body></html>
"""
