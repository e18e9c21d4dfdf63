"""One fps per model per study: each architecture is timed once, and every page reads that."""

import pytest

from crkd_core.errors import FileFormatError
from crkd_core.models import build_student, build_teacher
from crkd_core.study import speed
from crkd_core.study.profiles import STUDY_PROFILES


def fake_timer(calls):
    def time_them(models, frames, repeats, seconds):
        calls.append(sorted(models))
        return {k: {"params": 1, "gmacs_per_frame": 0.5, "fps": 100.0 + len(calls)} for k in models}

    return time_them


def test_an_architecture_is_timed_once_and_read_by_every_later_page(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(speed, "costs_side_by_side", fake_timer(calls))
    plan = STUDY_PROFILES.get("smoke")
    teacher, crkd, nokd = (
        build_teacher("cpu", 5),
        build_student("cpu", 5, 32),
        build_student("cpu", 5, 32),
    )
    first = speed.study_costs(
        tmp_path, "cpu", {"teacher": teacher, "crkd": crkd, "nokd": nokd}, plan
    )
    assert len(calls) == 1 and len(calls[0]) == 2  # LRINet with and without KD: one network
    assert first["crkd"] == first["nokd"]
    later = speed.study_costs(
        tmp_path, "cpu", {"t": build_teacher("cpu", 5), "s16": build_student("cpu", 5, 16)}, plan
    )
    assert len(calls) == 2 and len(calls[1]) == 1  # only the 16 px LRINet was new
    assert later["t"]["fps"] == first["teacher"]["fps"]
    # another classifier is another model (05 sizes its models for PHOENIX-2014)
    speed.study_costs(tmp_path, "cpu", {"t": build_teacher("cpu", 1296)}, plan)
    assert len(calls) == 3


@pytest.mark.parametrize("text", ["[1]", '{"a": {"params": 1, "gmacs_per_frame": 1, "fps": NaN}}'])
def test_a_damaged_costs_file_is_refused_by_name(tmp_path, text):
    (tmp_path / speed.COSTS_FILE).write_text(text)
    with pytest.raises(FileFormatError, match=speed.COSTS_FILE):
        speed.read_costs(tmp_path / speed.COSTS_FILE)
