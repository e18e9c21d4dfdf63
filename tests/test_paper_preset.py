"""The `paper` preset end to end on CPU: 224 px teacher, 112 px LRINet, one epoch each on a
handful of 256 px SignWorld clips, then evaluate, export and predict (slow: about 2 minutes)."""

from __future__ import annotations

import pytest

from crkd_core.cli import main
from crkd_core.data.signworld import DataSize, generate_signworld
from crkd_core.experiment import EvalRecord, RunRecord

# Signs held longer than usual: the paper head (K5-P2-K5-P2, no padding) needs ~4 frames a gloss.
TINY_256 = DataSize(
    "tiny-256", train=3, dev=1, test=1, signers=1, unseen_signers=1, size=256, sign_frames=(14, 18)
)


@pytest.mark.slow
def test_paper_preset_trains_distills_evaluates_exports_and_predicts(tmp_path):
    data, teacher, student = tmp_path / "sw256", tmp_path / "teacher", tmp_path / "lrinet"
    generate_signworld(data, TINY_256, seed=1)
    common = ["--data", str(data), "--preset", "paper", "--epochs", "1", "--batch-size", "2"]
    assert main(["train-teacher", *common, "--out", str(teacher)]) == 0
    assert main(["distill", *common, "--teacher", str(teacher), "--out", str(student)]) == 0
    t, s = RunRecord.read(teacher), RunRecord.read(student)
    assert (t.preset, t.input_size, s.input_size) == ("paper", 224, 112)
    assert s.gmacs_per_frame < t.gmacs_per_frame
    assert main(["evaluate", "--run", str(student), "--data", str(data), "--split", "dev"]) == 0
    assert EvalRecord.read(student, "dev").score.n_ref > 0
    assert main(["export", "--run", str(student)]) == 0
    assert (student / "model.onnx").is_file()
    frames = next((data / "features").glob("*/test/*/1"))
    assert main(["predict", "--run", str(student), "--frames", str(frames)]) == 0
    onnx = ["predict", "--run", str(student), "--frames", str(frames), "--onnx"]
    assert main([*onnx, str(student / "model.onnx")]) == 0
