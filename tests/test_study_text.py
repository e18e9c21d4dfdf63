"""What the notebooks say is drawn from the profile (no typed "LRINet sees 16 px" that outlives
the profile), and the headline reads its GMACs ratio before rounding (0.214x, never 0.25x)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from crkd_core import study


def build(config, profile: str, **params):
    return config.build(profile=profile, data="/tmp/d", study_dir="/tmp/s", **params)


@pytest.mark.parametrize("profile, px", [("smoke", 16), ("default", 32), ("ablation", 32)])
def test_views_and_design_are_the_profiles(profile, px):
    cfg = build(study.DistillConfig, profile)
    text = study.distill_text(cfg)
    assert f"LRINet {px} px" in text and f"profile `{profile}`" in text
    teachers = len(study.STUDY_PROFILES.get(profile).teacher_seeds)
    assert f"Each of {teachers} teacher(s)" in text
    assert ("the paper's ratio" in text) == (px == 32)  # half the 64 px teacher


def test_the_plateau_rule_is_stated_as_the_profile_sets_it():
    text = study.distill_text(build(study.DistillConfig, "default"))
    assert "at most 20 epochs, stopping once 3 epochs in a row" in text
    assert "never before epoch 14" in text
    teacher = study.teacher_text(build(study.TeacherConfig, "default"))
    assert "3 teacher(s) (seeds 0, 1, 2)" in teacher and "never before epoch 12" in teacher
    assert "no plateau rule" in study.distill_text(build(study.DistillConfig, "smoke"))


def test_explore_shows_the_sizes_that_the_profile_trains():
    assert build(study.ExploreConfig, "default").sizes == [64, 32]
    assert build(study.ExploreConfig, "ablation").sizes == [64, 32, 16]
    assert build(study.ExploreConfig, "smoke", sizes=[48]).sizes == [48]  # a parameter wins


def test_the_headline_frame_keeps_the_gmacs_ratio_unrounded():
    rows = [
        {
            "model": "Teacher",
            "input_size": 64,
            "wer": 20.0,
            "wer_std": 1.0,
            "seed_list": [0, 1, 2],
            "gmacs_per_frame": 0.05,
            "gmacs_ratio": 1.0,
            "params": 10,
            "fps": 1.0,
            **{f"gap_{k}": None for k in ("difference", "ci_low", "ci_high")},
        },
        {
            "model": "LRINet + CRKD",
            "input_size": 32,
            "wer": 30.0,
            "wer_std": 2.0,
            "seed_list": [0, 1, 2],
            "gmacs_per_frame": 0.0107,
            "gmacs_ratio": 0.0107 / 0.05,
            "params": 5,
            "fps": 2.0,
            "gap_difference": 10.0,
            "gap_ci_low": 8.0,
            "gap_ci_high": 12.0,
        },
    ]
    df = study.headline_frame(rows)
    assert list(df["x teacher"]) == ["1", "0.214"] and list(df["GMACs / frame"])[1] == "0.0107"


def test_scale_against_recover_states_the_cost_ratio_from_the_runs():
    grid = [
        {"size": 32, "setting": "both", "gmacs_per_frame": 0.0107, "wer": 30.0, "seeds": 3},
        {
            "size": 32,
            "setting": "both-recover",
            "gmacs_per_frame": 0.00738,
            "wer": 33.0,
            "seeds": 3,
        },
    ]
    smoke = build(study.DistillConfig, "smoke")  # both at the one student size
    text = study.scale_recover_text(grid, replace(smoke, student_size=32))
    assert "costs 0.69x the scale student's (32 px) GMACs" in text
    assert "not at equal cost" in text
    assert "No complete scale (16 px)" in study.scale_recover_text(grid, smoke)
    # the default's headline: the recover student at 36 px, where the costs match
    equal = [grid[0], {**grid[1], "size": 36, "gmacs_per_frame": 0.0105}]
    text = study.scale_recover_text(equal, build(study.DistillConfig, "default"))
    assert "The recover student (36 px) costs 0.981x" in text
    assert "They compare at equal cost." in text
