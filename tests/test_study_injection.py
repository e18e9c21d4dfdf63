"""Glosses and ids that carry HTML and script go through a whole smoke study (data, training,
notebooks, report), and the published pages show them as text: nothing of theirs runs in
Chromium."""

import json
import shutil
from pathlib import Path

import pytest

from crkd_core.cli import main

from .test_report import injected, js_errors, run_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SCRIPT_GLOSS = "<script>alert(1)</script>"
SVG_GLOSS = "<svg/onload=alert(1)>"
EVIL_ID_SUFFIX = '<i>&"x'


def poison(data: Path) -> dict[str, str]:
    """Rename two glosses to HTML payloads and one test id; returns the gloss renames."""
    ann = data / "annotations" / "manual"
    test_rows = (ann / "test.corpus.csv").read_text("utf-8").splitlines()
    first_id, _, _, glosses = test_rows[1].split("|")
    renames = {glosses.split()[0]: SCRIPT_GLOSS}
    other = next(g for g in glosses.split() if g not in renames)
    renames[other] = SVG_GLOSS
    for csv in ann.glob("*.corpus.csv"):
        rows = csv.read_text("utf-8").splitlines()
        out = [rows[0]]
        for row in rows[1:]:
            vid, folder, signer, ann_text = row.split("|")
            ann_text = " ".join(renames.get(g, g) for g in ann_text.split())
            out.append("|".join((vid, folder, signer, ann_text)))
        csv.write_text("\n".join(out) + "\n", "utf-8")
    meta_path = data / "signworld.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    for g in meta["glosses"]:
        g["gloss"] = renames.get(g["gloss"], g["gloss"])
    meta_path.write_text(json.dumps(meta), "utf-8")
    # an id with markup: rename its row and its frame folder
    new_id = first_id + EVIL_ID_SUFFIX
    csv = ann / "test.corpus.csv"
    csv.write_text(csv.read_text("utf-8").replace(f"{first_id}|{first_id}/", f"{new_id}|{new_id}/"))
    folder = next((data / "features").glob(f"*/test/{first_id}"))
    folder.rename(folder.with_name(new_id))
    return renames


def test_dataset_strings_are_text_in_a_whole_smoke_study(smoke_data, tmp_path):
    data = shutil.copytree(
        smoke_data, tmp_path / "data", ignore=shutil.ignore_patterns(".crkd-cache")
    )
    poison(data)
    reports = tmp_path / "reports"
    rc = main(
        [
            "study",
            "--profile",
            "smoke",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "s"),
            "--reports",
            str(reports),
            "--only",
            "00_explore_data,01_train_teacher,02_distill_student",
        ]
    )
    assert rc == 0
    pages = sorted(reports.glob("*.html"))
    assert len(pages) >= 4
    texts = {p.name: p.read_text("utf-8") for p in pages}
    for name, text in texts.items():
        assert injected(text) == [], name
    # the payloads did reach the report, escaped
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in t for t in texts.values())
    for page in (reports / "index.html", reports / "02_distill_student.html"):
        r = run_chromium(page, tmp_path, "--dump-dom")
        assert r.returncode == 0, r.stderr[-2000:]
        assert js_errors(r.stderr) == [], page.name
        assert injected(r.stdout) == [], page.name
        assert "alert" not in "".join(
            ln for ln in r.stderr.splitlines() if "CONSOLE" in ln and "alert" in ln
        )
