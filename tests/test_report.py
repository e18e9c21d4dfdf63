"""The study report compiles from fake run folders, escapes dataset strings, and renders.

The browser tests open the pages in headless Chromium: no JavaScript error, the plotly plots
are drawn (`main-svg` in the DOM after scripts ran), and no injected element exists. They are
skipped when Chromium is missing, unless CI is set (then a missing browser fails).
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from crkd_core import plots
from crkd_core.stats import NestedComparison, nested_verdict
from crkd_core.study import report
from crkd_core.study.convergence import Convergence
from crkd_core.study.published import tex
from crkd_core.study.report import PageStatus, Provenance
from crkd_core.study.tables import GAP_KEYS

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
EVIL = (SCRIPT, IMG)


def plotly_output(fig) -> dict:
    return new_output("display_data", data=plots.StaticRenderer().to_mimebundle(fig.to_dict()))


def html_output(obj) -> dict:
    return new_output("display_data", data={"text/html": obj._repr_html_(), "text/plain": "df"})


def fake_notebook(path: Path, failed: bool = False) -> Path:
    """An executed notebook with a plotly figure and a table holding untrusted glosses."""
    conf = pd.DataFrame(
        {
            "reference": list(EVIL),
            "hypothesis": ["B&Q", "A"],
            "count": [3, 1],
            "handshape only": [True, False],
        }
    )
    cells = [
        new_markdown_cell("# A page"),
        new_code_cell("x", outputs=[plotly_output(plots.confusion_bars(conf))]),
        new_code_cell("y", outputs=[html_output(conf)]),
    ]
    if failed:
        cells.append(
            new_code_cell(
                "z",
                outputs=[
                    new_output(
                        "error",
                        ename="StudyError",
                        evalue=f"gloss {SCRIPT} failed",
                        traceback=[f"StudyError: gloss {SCRIPT} {IMG}"],
                    )
                ],
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def fake_answer(key: str, diff: float, low: float, high: float) -> dict:
    """An answer as 02 writes it (`study.distill_answers`), with the library's sentence."""
    c = NestedComparison(
        diff, low, high, 0.5 if low <= 0 <= high else 2 / 10_001, 3, 6, 80, 10_000, 0.95, 0
    )
    return {
        "key": key,
        "question": f"{key}?",
        **c.to_dict(),
        "n_students": 3,
        "tie": c.is_tie,
        "answer": nested_verdict(c, "A", "B"),
    }


def fake_run(arm: str, seed: int, best: int, epochs: int) -> dict:
    """A headline run as 02 writes it (`study.headline_runs`)."""
    curve = [{"epoch": e, "dev_wer": 80.0 - e, "train_total": 5.0 / e} for e in range(1, epochs)]
    return {
        "arm": arm,
        "teacher_seed": seed,
        "seed": seed,
        "run": f"runs/{arm}-seed{seed}",
        "wer": 30.0,
        "best_dev_wer": 40.0,
        "best_epoch": best,
        "epochs": epochs,
        "max_epochs": 30,
        "converged": best < epochs,
        "verdict": Convergence(best, epochs, 30).text(),
        "curve": curve,
    }


def fake_study(root: Path) -> tuple[Path, list[PageStatus], Provenance]:
    study = root / "study"
    headline = [
        {
            "arm": "teacher",
            "model": f"Teacher {SCRIPT}",
            "input_size": 64,
            "wer": 20.5,
            "wer_std": 1.2,
            "seeds": 3,
            "seed_list": [0, 1, 2],
            "params": 1234567,
            "gmacs_per_frame": 0.05,
            "gmacs_ratio": 1.0,
            "fps": 900.0,
            **dict.fromkeys(f"gap_{k}" for k in GAP_KEYS),
        },
        {
            "arm": "crkd",
            "model": f"LRINet {IMG} & 50%_off",
            "input_size": 16,
            "wer": 30.0,
            "wer_std": 0.0,
            "seeds": 1,
            "seed_list": [0],
            "params": 456789,
            "gmacs_per_frame": 0.0107,
            "gmacs_ratio": 0.0107 / 0.05,  # 0.214x; the rounded GMACs would say 0.2x
            "fps": 4000.0,
            "gap_difference": 9.5,
            "gap_ci_low": 6.25,
            "gap_ci_high": 12.75,
            "gap_p_value": 2 / 10_001,
            "gap_p_at_floor": True,
            "gap_resamples": 10_000,
            "gap_n_teachers": 3,
        },
    ]
    answers = [
        fake_answer("crkd_vs_teacher", 9.5, 6.25, 12.75),
        fake_answer("crkd_vs_nokd", -8.0, -11.0, -5.0),
        fake_answer("scale_vs_recover", -1.0, -3.5, 1.5),
    ]
    runs = [
        fake_run("teacher", 0, best=12, epochs=15),
        fake_run("crkd", 0, best=9, epochs=12),
        fake_run("nokd", 0, best=30, epochs=30),  # still improving at the cap
    ]
    grid = [
        {
            "size": s,
            "setting": k,
            "wer": w,
            "wer_std": 0.5,
            "seeds": 1,
            "params": 1000,
            "gmacs_per_frame": g,
            "fps": f,
        }
        for s, k, w, g, f in (
            (16, "none", 40.0, 0.004, 4000.0),
            (16, "both", 33.0, 0.004, 4100.0),
            (32, SCRIPT, 30.0, 0.01, 2500.0),
        )
    ]
    for name, obj in (
        ("02_distill_student/headline", headline),
        ("02_distill_student/answers", answers),
        ("02_distill_student/runs", runs),
        ("03_resolution_ablation/grid", grid),
    ):
        (study / f"{name}.json").parent.mkdir(parents=True, exist_ok=True)
        (study / f"{name}.json").write_text(json.dumps(obj))
    ok = fake_notebook(study / "02_distill_student" / "02_distill_student.ipynb")
    grid_nb = fake_notebook(study / "03_resolution_ablation" / "03_resolution_ablation.ipynb")
    bad = fake_notebook(study / "04_attribution" / "04_attribution.ipynb", failed=True)
    statuses = [
        PageStatus("02_distill_student", "ok", 12.0, executed=str(ok)),
        PageStatus("03_resolution_ablation", "ok", 30.0, executed=str(grid_nb)),
        PageStatus(
            "04_attribution", "failed", 3.0, f"StudyError: {SCRIPT} {IMG}", executed=str(bad)
        ),
        PageStatus("05_efficiency", "skipped", 0.0, "needs 04_attribution"),
    ]
    prov = Provenance(
        "smoke",
        [0],
        "abc123",
        f"/data/{IMG}",
        str(study),
        "crkd study",
        "2024-01-01 00:00:00",
        61.0,
        teacher_seeds=[0, 1, 2],
    )
    return study, statuses, prov


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    study, statuses, prov = fake_study(root)
    reports = root / "reports"
    reports.mkdir()
    (reports / "05_efficiency.html").write_text("an old success")  # must not survive
    index = report.compile_report(study, reports, statuses, prov)
    return reports, index


class Elements(html.parser.HTMLParser):
    """Collects start tags with their attributes, and the text of scripts."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def injected(page: str) -> list[str]:
    """Elements that only an unescaped dataset string could have created."""
    p = Elements()
    p.feed(page)
    bad = [f"<{t} {a}>" for t, a in p.tags if any(k.startswith("on") for k in a)]
    bad += [f"<{t} src={a['src']}>" for t, a in p.tags if t == "img" and a.get("src") == "x"]
    bad += [s[:80] for s in p.scripts if s.strip() == "alert(1)"]
    return bad


def test_index_has_headline_pareto_pages_and_provenance(compiled):
    reports, index = compiled
    text = index.read_text("utf-8")
    assert "Teacher vs LRINet" in text and "20.50 ± 1.20" in text
    assert "Plotly.newPlot" in text and "Pareto front" in text
    assert 'href="02_distill_student.html"' in text and 'href="04_attribution.html"' in text
    assert "abc123" in text and "smoke" in text and "61 s" in text
    assert (reports / "study.json").is_file()


def test_study_json_carries_provenance_answers_and_runs(compiled):
    reports, _ = compiled
    record = json.loads((reports / "study.json").read_text("utf-8"))
    prov = record["provenance"]
    assert prov["teacher_seeds"] == [0, 1, 2] and prov["wall_seconds"] == 61.0
    assert set(record["answers"]) == {"crkd_vs_teacher", "crkd_vs_nokd", "scale_vs_recover"}
    for answer in record["answers"].values():
        fields = ("difference", "ci_low", "ci_high", "p_value", "n_teachers", "n_students")
        assert list(answer)[:6] == list(fields)
        assert answer["ci_low"] <= answer["difference"] <= answer["ci_high"]
    assert record["answers"]["scale_vs_recover"]["tie"] is True
    keys = {"teacher_seed", "seed", "best_epoch", "epochs", "converged"}
    assert all(keys <= set(r) for r in record["runs"])
    assert [r["converged"] for r in record["runs"]] == [True, True, False]


def test_index_states_each_answer_and_flags_runs_that_did_not_converge(compiled):
    _, index = compiled
    text = index.read_text("utf-8")
    assert "A is worse than B: difference +9.5 points (95 % interval +6.2 to +12.8" in text
    assert "A is better than B: difference -8.0 points" in text
    assert "Tie: A and B do not differ beyond the noise: difference -1.0 points" in text
    assert "p &lt; 0.0002" in text  # at the resampling floor, a bound
    assert "holds zero is a tie" in text
    assert "1 of 3 runs did not converge" in text and "NOT CONVERGED" in text
    assert "+9.5 [+6.2, +12.8]" in text  # the gap to its own teacher, with its interval
    assert "0.0107 (0.214x)" in text  # the ratio of unrounded GMACs
    assert text.count("Plotly.newPlot") >= 2  # the Pareto plot and the runs' learning curves


def test_headline_tex_is_a_plain_tabular_with_the_gap_and_its_interval(compiled):
    reports, _ = compiled
    table = (reports / "headline.tex").read_text("utf-8")
    assert table.count(r"\begin{tabular}") == 1 and r"\end{tabular}" in table
    rows = [ln for ln in table.splitlines() if ln.endswith(r"\\")]
    assert len(rows) == 3  # the header, the teacher, the student
    teacher, student = rows[1], rows[2]
    assert "20.5 $\\pm$ 1.2" in teacher and " -- " in teacher and "0, 1, 2" in teacher
    assert "+9.5 [+6.2, +12.8]" in student
    assert "0.0107 (0.214$\\times$)" in student and "& 0.457 " in student
    assert r"50\%\_off" in student and r"\&" in student  # the label's specials escaped
    assert "seeds 0, 1, 2" in table and "10000 resamples" in table


@pytest.mark.parametrize(
    "text, escaped",
    [
        ("a & b", r"a \& b"),
        ("50%", r"50\%"),
        ("x_1", r"x\_1"),
        ("{}", r"\{\}"),
        ("a\\b", r"a\textbackslash{}b"),
    ],
)
def test_tex_escapes_latex_specials(text, escaped):
    assert tex(text) == escaped


def test_failed_notebook_shows_failed_with_its_partial_page(compiled):
    reports, index = compiled
    text = index.read_text("utf-8")
    assert "FAILED" in text and "SKIPPED" in text and "did not succeed" in text
    assert (reports / "04_attribution.html").is_file()
    assert "StudyError" in (reports / "04_attribution.html").read_text("utf-8")
    assert not (reports / "05_efficiency.html").exists()  # the stale page is gone


def test_untrusted_strings_are_escaped_everywhere(compiled):
    reports, _ = compiled
    for page in reports.glob("*.html"):
        text = page.read_text("utf-8")
        assert SCRIPT not in text, page.name
        assert "<img src=x" not in text, page.name
        assert injected(text) == [], page.name
    index = (reports / "index.html").read_text("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in index


def test_pages_are_offline(compiled):
    reports, _ = compiled
    for page in reports.glob("*.html"):
        text = page.read_text("utf-8")
        p = Elements()
        p.feed(text)
        remote = [
            a
            for t, a in p.tags
            if t in ("script", "link", "img", "iframe")
            and any(str(a.get(k, "")).startswith(("http", "//")) for k in ("src", "href"))
        ]
        assert remote == [], page.name
        assert ("script", "plotly.min.js") in [(t, a.get("src")) for t, a in p.tags], page.name
    assert (reports / "plotly.min.js").stat().st_size > 1_000_000  # the real plotly.js, local


def test_a_notebook_page_hides_code_and_keeps_figures(compiled):
    reports, _ = compiled
    text = (reports / "02_distill_student.html").read_text("utf-8")
    assert "Plotly.newPlot" in text and 'class="jp-CodeMirrorEditor' not in text
    assert 'href="index.html"' in text


# -- headless Chromium -------------------------------------------------------------------------
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None
        )
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI (apt-get install chromium)")
    pytest.skip("chromium is not installed")


def run_chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    """Load `page` headless, give its scripts time to run, and return what Chromium printed."""
    argv = [
        chromium(),
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--window-size=1280,1800",
        *extra,
        page.as_uri(),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def js_errors(stderr: str) -> list[str]:
    return [
        ln for ln in stderr.splitlines() if "CONSOLE" in ln and ("Uncaught" in ln or "Error" in ln)
    ]


def check_renders(page: Path, tmp: Path, plots_expected: int) -> None:
    r = run_chromium(page, tmp, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert js_errors(r.stderr) == [], js_errors(r.stderr)
    assert r.stdout.count('class="main-svg"') >= plots_expected, "plotly did not draw"
    assert injected(r.stdout) == []


@pytest.mark.browser
def test_index_renders_in_chromium(compiled, tmp_path):
    reports, index = compiled
    check_renders(index, tmp_path, 1)


@pytest.mark.browser
def test_notebook_page_renders_in_chromium(compiled, tmp_path):
    reports, _ = compiled
    check_renders(reports / "04_attribution.html", tmp_path, 1)


@pytest.mark.browser
def test_screenshot(compiled, tmp_path):
    _, index = compiled
    shot = tmp_path / "index.png"
    r = run_chromium(index, tmp_path, f"--screenshot={shot}")
    assert r.returncode == 0 and shot.is_file() and shot.stat().st_size > 10_000


@pytest.mark.browser
def test_the_error_check_sees_javascript_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    r = run_chromium(page, tmp_path, "--dump-dom")
    assert any("undefinedFunction" in line for line in js_errors(r.stderr)), r.stderr[-2000:]
