"""`crkd study --data` on a PHOENIX-2014-layout tree (real data has no signworld.json): every
notebook runs, and the SignWorld-only extras (floor, gloss groups, timelines) drop out."""

from __future__ import annotations

import shutil

import pytest

from crkd_core.cli import main
from crkd_core.data.synthetic import METADATA_FILE, TIMINGS_FOLDER
from crkd_core.study import NOTEBOOKS, dataset_tables, gloss_groups, gloss_timeline


@pytest.fixture(scope="module")
def phoenix_tree(smoke_data, tmp_path_factory):
    """The smoke SignWorld as a plain PHOENIX-2014 release tree (no SignWorld files)."""
    root = tmp_path_factory.mktemp("phoenix") / "phoenix-2014-multisigner"
    shutil.copytree(smoke_data, root, ignore=shutil.ignore_patterns(".crkd-cache"))
    (root / METADATA_FILE).unlink()
    shutil.rmtree(root / TIMINGS_FOLDER)
    return root


def test_signworld_extras_drop_out_on_real_data(phoenix_tree):
    assert gloss_groups(phoenix_tree) == {}
    assert gloss_timeline(phoenix_tree, "train", "train_00000") is None
    tables = dataset_tables(phoenix_tree)
    assert tables["glosses"] is None and list(tables["splits"]["split"]) == ["train", "dev", "test"]


@pytest.mark.slow
def test_smoke_study_runs_on_a_phoenix_layout_tree(phoenix_tree, tmp_path):
    out = tmp_path / "study"
    rc = main(["study", "--profile", "smoke", "--data", str(phoenix_tree), "--out", str(out)])
    index = (out / "reports" / "index.html").read_text("utf-8")
    assert rc == 0, index[-2000:]
    assert "FAILED" not in index and "SKIPPED" not in index
    for name in NOTEBOOKS:
        assert (out / "reports" / f"{name}.html").is_file()
    assert "handshape-blind floor" not in index
