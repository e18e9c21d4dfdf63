"""Compile a study into static HTML: one page per executed notebook, and `index.html`.

Pages are nbconvert's HTML (lab template) with code cells hidden. The pages and the index load
one shared `plotly.min.js` written beside them (plotly.js inlined in every page would be ~5 MB
a page), and the pages one shared `notebook.css` (nbconvert's stylesheet, ~270 kB a page
inlined), so the folder works offline as a whole; the template drops the CDN scripts
(require.js, MathJax, mermaid) that the notebooks do not need and that fail offline.

The index is written by hand, and every string in it goes through `html.escape`: glosses and ids
come from datasets, and a dataset is not trusted. A notebook that failed is shown as FAILED with
its error, linked to its partial page; the index never shows an older success in its place.
"""

from __future__ import annotations

import html
import json
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..io import atomic_write_text, read_json
from ..plots import pareto
from .paths import display_path
from .profiles import NB_ABLATION, NB_DISTILL

PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
<script type="text/javascript" src="{{ resources.crkd_plotlyjs_src }}"></script>
{%- endblock html_head_js -%}
{%- block notebook_css -%}
<link rel="stylesheet" type="text/css" href="{{ resources.crkd_css_href }}"/>
{%- endblock notebook_css -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block body_header -%}
{{ super() }}
<nav class="crkd-nav"><a href="index.html">&larr; study index</a></nav>
{%- endblock body_header -%}
"""

# The stylesheet that the lab template would inline in every page, rendered on its own.
CSS_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block header -%}{{ self.notebook_css() }}{%- endblock header -%}
{%- block body_header -%}{%- endblock body_header -%}
{%- block body_footer -%}{%- endblock body_footer -%}
{%- block footer -%}{%- endblock footer -%}
"""

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
    seeds: list[int]
    git_commit: str
    data: str
    study_dir: str
    command: str
    started: str
    wall_seconds: float
    extra: dict = field(default_factory=dict)


PLOTLY_JS = "plotly.min.js"  # written once beside the pages
PAGE_CSS = "notebook.css"  # likewise


def plotly_js() -> str:
    """plotly.js, minified, as shipped with the installed plotly."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_assets(reports: Path) -> None:
    """plotly.min.js and notebook.css, shared by every page, readable by all."""
    atomic_write_text(reports / PLOTLY_JS, plotly_js()).chmod(0o644)
    atomic_write_text(reports / PAGE_CSS, page_css()).chmod(0o644)


def _exporter(template: str = "crkd_page.html.j2"):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file=template,
        extra_loaders=[
            DictLoader({"crkd_page.html.j2": PAGE_TEMPLATE, "crkd_css.j2": CSS_TEMPLATE})
        ],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def page_css() -> str:
    """The lab template's page stylesheet, as plain CSS (its <style> blocks joined)."""
    import nbformat

    fragment, _ = _exporter("crkd_css.j2").from_notebook_node(nbformat.v4.new_notebook())
    return "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", fragment, re.S))


def notebook_page(notebook: str | Path, out: str | Path) -> Path:
    """Convert an executed notebook into an HTML page (code hidden) beside the shared assets."""
    import nbformat

    out = Path(out)
    if not (out.parent / PLOTLY_JS).is_file() or not (out.parent / PAGE_CSS).is_file():
        write_assets(out.parent)
    nb = nbformat.read(str(notebook), as_version=4)
    resources = {"crkd_plotlyjs_src": PLOTLY_JS, "crkd_css_href": PAGE_CSS}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    return atomic_write_text(out, body)


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
    "wer_text": "test WER %: mean ± std [95 % CI]",
    "seeds": "seeds",
    "gmacs_per_frame": "GMACs / frame",
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


def headline_html(rows: list[dict] | None, why: str) -> str:
    if not rows:
        return f"<p class=failed>Headline not available: {esc(why)}</p>"
    rows = [{**r, "wer_text": wer_text(r)} for r in rows]
    return table(rows, HEADLINE_COLUMNS)


def answers_html(groups: list[tuple[list[dict] | None, str]]) -> str:
    """Each question of the study, answered in one sentence with its interval."""
    items = []
    for rows, why in groups:
        if rows is None:
            items.append(f"<li class=failed>not available: {esc(why)}</li>")
            continue
        items += [f"<li><b>{esc(r['question'])}</b> {esc(r['answer'])}</li>" for r in rows]
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
        "seeds": ", ".join(map(str, p.seeds)),
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
    answers = [
        result(study_dir, statuses, NB_DISTILL, "answers"),
        result(study_dir, statuses, NB_ABLATION, "answers"),
    ]
    grid_rows, grid_why = result(study_dir, statuses, NB_ABLATION, "grid")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CRKD study ({esc(prov.profile)})</title>
<script type="text/javascript" src="{PLOTLY_JS}"></script><style>{STYLE}</style></head>
<body><h1>CRKD study: profile {esc(prov.profile)}</h1>{banner}
<h2>Answers</h2>{answers_html(answers)}
<h2>Teacher vs LRINet</h2>{headline_html(head_rows, head_why)}
<h2>Resolution ablation</h2>{pareto_html(grid_rows, grid_why)}{grid_html(grid_rows)}
<h2>Notebooks</h2>{pages_html(statuses)}
<h2>Provenance</h2>{provenance_html(prov)}
</body></html>
"""


def compile_report(
    study_dir: str | Path, reports: str | Path, statuses: list[PageStatus], prov: Provenance
) -> Path:
    """Write one page per executed notebook, `index.html` and `study.json` into `reports`.

    `study.json` (provenance and the status of every notebook) also goes into the study folder.
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
    record = _json({"provenance": asdict(prov), "notebooks": pages})
    atomic_write_text(study_dir / "study.json", record)  # beside the runs it describes
    atomic_write_text(reports / "study.json", record)
    index = atomic_write_text(reports / "index.html", index_page(study_dir, statuses, prov))
    for path in (index, reports / "study.json"):
        path.chmod(0o644)  # published pages: readable by all (atomic writes make them 0600)
    return index


def _json(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
