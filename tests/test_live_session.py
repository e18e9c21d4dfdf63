"""A live notebook session without a browser: parameter types, one-line CRKD errors (and a
papermill run that still fails), the data browser and the live curves driven from Python."""

from __future__ import annotations

import json

import nbformat
import pytest

from crkd_core import plots, study
from crkd_core.errors import ConfigError, DataError
from crkd_core.study.session import error_lines, tail_log

BASE = {"profile": "smoke", "data": "/tmp/d", "study_dir": "/tmp/s"}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("epochs", "3", "an integer"),
        ("epochs", 2.0, "an integer"),
        ("epochs", True, "an integer"),
        ("seeds", 0, "a list of integers"),
        ("seeds", ["0"], "a list of integers"),
        ("interactive", 1, "True or False"),
        ("profile", 3, "a string"),
    ],
)
def test_a_parameter_of_the_wrong_type_is_named(name, value, expected):
    with pytest.raises(ConfigError, match=f"parameter '{name}' must be {expected}, got"):
        study.TeacherConfig.build(**{**BASE, name: value})


def test_parameters_of_the_right_type_pass():
    cfg = study.TeacherConfig.build(**BASE, epochs=2, seeds=(0, 1), interactive=True)
    assert cfg.epochs == 2 and list(cfg.seeds) == [0, 1]
    assert study.EfficiencyConfig.build(**BASE, min_seconds=1).min_seconds == 1  # int for float


def test_crkd_errors_are_one_line_other_errors_keep_their_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        study.session(shell)
        result = shell.run_cell("from crkd_core import study\nstudy.sentence_ids('/no/such', 'x')")
        assert isinstance(result.error_in_exec, DataError)  # the cell failed
        shown = capsys.readouterr().out
        assert shown.strip().splitlines() == error_lines(DataError, result.error_in_exec)
        shell.run_cell("1 / 0")
        assert "Traceback" in capsys.readouterr().out
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()


@pytest.mark.slow
def test_under_papermill_the_cell_still_fails_with_the_message(tmp_path):
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from crkd_core import study\nstudy.session()"),
        nbformat.v4.new_code_cell(f"study.TeacherConfig.build(**{BASE!r}, epochs='3')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    source, target = tmp_path / "bad.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, str(source))
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(source), str(target), kernel_name="python3", progress_bar=False)
    assert info.value.ename == "ConfigError" and "parameter 'epochs'" in info.value.evalue
    out = nbformat.read(str(target), as_version=4)
    error = next(o for c in out.cells for o in c.get("outputs", []) if o.output_type == "error")
    assert error.ename == "ConfigError" and len(error.traceback) == 2  # one line and a hint


def test_data_browser_follows_its_controls(smoke_data):
    b = study.browser(smoke_data, "train", student_size=16)
    first = b.views["teacher"].value
    assert b.frame.max > 10 and b.captions["student"].value.endswith("16 px, frame 0")
    b.frame.value = 10
    assert b.views["teacher"].value != first and "frame 10 of" in b.timeline.value
    b.student.value = 8
    assert "8 px" in b.captions["student"].value
    b.zoom.value = 64
    assert len(b.views["student"].value) < len(first)
    b.pick.value = b.pick.options[1]
    assert b.status.value.startswith(b.pick.options[1])
    with pytest.raises(ConfigError, match="no video"):
        study.browser(smoke_data, "train", sentence="nope")


def test_live_curves_grow_in_place():
    live = plots.LiveCurves(show=False)
    assert live.widget is not None, "plotly's FigureWidget needs anywidget (environment.yml)"
    widget = live.widget
    live("a", {"epoch": 1, "train_total": 3.0, "dev_wer": 90.0})
    live("a", {"epoch": 2, "train_total": 2.0, "dev_wer": 80.0})
    live.catch_up({"a": [{}, {}], "b": [{"epoch": 1, "train_total": 5.0, "dev_wer": 99.0}]})
    assert live.widget is widget and len(widget.data) == 4
    assert widget.data[0].x == (1, 2) and widget.data[1].y == (90.0, 80.0)
    assert widget.data[2].y == (5.0,) and len(live.figure().data) == 4


def test_tail_log_leaves_a_line_being_written(tmp_path):
    log = tmp_path / "log.jsonl"
    assert tail_log(log) == []
    log.write_text(json.dumps({"epoch": 1}) + "\n" + '{"epoch": 2, "dev_')
    assert tail_log(log) == [{"epoch": 1}]
