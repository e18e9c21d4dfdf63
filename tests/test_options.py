"""A run option is declared once, on its config field: the parser is built from it, and a config
made from Python gets the same types and ranges as the command line."""

from dataclasses import MISSING, fields

import pytest

from crkd_core.cli import build_parser
from crkd_core.errors import ConfigError
from crkd_core.experiment import EvalConfig, StudentRunConfig, TeacherRunConfig
from crkd_core.options import flag, option_of

COMMANDS = {"train-teacher": TeacherRunConfig, "distill": StudentRunConfig, "evaluate": EvalConfig}


@pytest.mark.parametrize("command,cls", COMMANDS.items(), ids=list(COMMANDS))
def test_every_field_is_an_option_with_its_default(command, cls):
    sub = build_parser(command)._subparsers._group_actions[0].choices[command]
    actions = {a.dest: a for a in sub._actions if a.dest != "help"}
    assert set(actions) == {f.name for f in fields(cls)}  # nothing declared twice or missed
    for f in fields(cls):
        action, spec = actions[f.name], option_of(f)
        assert action.option_strings == [flag(f.name)]
        assert action.required == (f.default is MISSING)
        if f.default is not MISSING:
            assert action.default == f.default, f.name
        assert action.help == spec.help and action.choices == spec.choices


@pytest.mark.parametrize(
    "values,message",
    [
        ({"lr": float("inf")}, "--lr must be > 0 and finite, got inf"),
        ({"lr": float("nan")}, "--lr must be > 0 and finite, got nan"),
        ({"seed": -1}, "--seed must be >= 0"),
        ({"threads": 2**31}, "--threads must be <= 1024"),
        ({"beam_width": 10**9}, "--beam-width must be <= 1024"),
        ({"device": "tpu"}, "--device must be one of auto, cpu, cuda, not 'tpu'"),
        ({"visual_ctc": -1.0}, "--visual-ctc must be >= 0 and finite"),
    ],
)
def test_a_config_from_python_gets_the_command_lines_ranges(tmp_path, values, message):
    with pytest.raises(ConfigError, match=message):
        TeacherRunConfig(data=tmp_path, out=tmp_path / "run", **values)
