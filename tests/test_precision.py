"""How a step computes: the precision and memory format chosen for the device, recorded in the
run, and the views a student draws (its teacher's seed, so that students share its outputs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from crkd_core import api
from crkd_core.errors import ConfigError
from crkd_core.models import build_student, build_teacher
from crkd_core.models.layers import Neighbours
from crkd_core.precision import (
    cpu_has_native_bf16,
    resolve_amp,
    resolve_channels_last,
    resolve_teacher_amp,
)

from .helpers import write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A"), ("v6", "A")],
    "dev": [("v4", "A C")],
    "test": [("v5", "B")],
}


def test_auto_precision_follows_the_cpu():
    """A CPU trains in fp32; the frozen teacher's forward takes bf16 where it is native."""
    assert resolve_amp("auto", "cpu") == "none"
    assert resolve_teacher_amp("auto", "cpu") == ("bf16" if cpu_has_native_bf16() else "none")
    assert resolve_amp("none", "cpu") == "none" and resolve_amp("bf16", "cpu") == "bf16"
    assert resolve_teacher_amp("none", "cpu") == "none"
    assert resolve_channels_last("auto", "cpu") is True  # a teacher
    assert resolve_channels_last("auto", "cpu", "student") is False  # LRINet: see precision.py
    assert resolve_channels_last("on", "cpu", "student") is True
    assert resolve_channels_last("auto", "cuda") is False
    assert resolve_channels_last("off", "cpu") is False


@pytest.mark.parametrize(
    "call,pattern",
    [
        (lambda: resolve_amp("fp16", "cpu"), "fp16 needs a CUDA device"),
        (lambda: resolve_amp("fp8", "cpu"), "--amp must be one of"),
        (lambda: resolve_channels_last("yes", "cpu"), "--channels-last must be one of"),
    ],
)
def test_bad_precision_settings_are_refused(call, pattern):
    with pytest.raises(ConfigError, match=pattern):
        call()


def test_kernels_pinned_to_avx2_train_in_fp32():
    """bf16 is emulated below AVX-512: `auto` must not choose it under the AVX2 pins, not even
    for the frozen teacher."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = "from crkd_core.precision import resolve_teacher_amp as r; print(r('auto', 'cpu'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_channels_last_computes_the_same_function(role):
    """The same weights and input in NHWC: the same outputs up to float rounding, and a state
    dict that is saved contiguous."""
    torch.manual_seed(0)
    net = build_teacher("cpu", 7) if role == "teacher" else build_student("cpu", 7, 32)
    net.eval()
    size = net.cfg.input_size
    video, lengths = torch.randn(2, 6, 3, size, size), torch.tensor([6, 4])
    with torch.no_grad():
        ref = net(video, lengths)
        net.to_channels_last()
        out = net(video, lengths)
    for i, n in enumerate(net.output_lengths(lengths).tolist()):
        assert torch.allclose(ref.logits[i, :n], out.logits[i, :n], atol=1e-4, rtol=1e-4)
    stem = net.trunk.stem[0].weight
    assert stem.is_contiguous(memory_format=torch.channels_last) and not stem.is_contiguous()
    assert all(t.contiguous().data_ptr() for t in net.state_dict().values())


def test_the_bilstm_runs_in_fp32_under_autocast():
    net = build_teacher("cpu", 7).train()
    video, lengths = torch.randn(2, 6, 3, 64, 64), torch.tensor([6, 4])
    seen = []
    net.head.lstm.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(video, lengths)
    assert seen == [(torch.bfloat16, torch.float32)]  # bf16 in (the 1D convs), fp32 out
    assert torch.isfinite(out.logits.float()).all()


def test_packed_neighbours_carry_the_masks_of_clip_ends():
    nb = Neighbours.from_lengths(torch.tensor([2, 1, 3]))
    assert nb.has_prev.flatten().tolist() == [False, True, False, False, True, True]
    assert nb.has_next.flatten().tolist() == [True, False, False, True, True, False]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision")
    data = write_phoenix(root / "data", ROWS)
    teacher = root / "teacher"
    api.train_teacher(
        data=data, out=teacher, epochs=1, cache_dir=root / "frames", threads=1, seed=5
    )
    return root, data, teacher


def test_a_run_records_the_choice_and_a_student_draws_its_teachers_views(tiny):
    root, data, teacher = tiny
    cfg = json.loads((teacher / "config.json").read_text())
    assert cfg["train"]["amp"] == resolve_amp("auto", "cpu")
    assert cfg["train"]["channels_last"] is True
    assert cfg["augment_seed"] == 5  # a teacher draws from its own seed
    common = {"data": data, "teacher": teacher, "epochs": 1, "threads": 1}
    api.distill(**common, out=root / "s1", seed=1, cache_dir=root / "frames")
    cfg1 = json.loads((root / "s1" / "config.json").read_text())
    assert cfg1["augment_seed"] == 5 and cfg1["train"]["channels_last"] is False
    assert cfg1["teacher_amp"] == resolve_teacher_amp("auto", "cpu")
    api.distill(
        **common, out=root / "s2", seed=1, augment_seed=9, amp="none", cache_dir=root / "frames"
    )
    cfg2 = json.loads((root / "s2" / "config.json").read_text())
    assert cfg2["augment_seed"] == 9 and cfg2["train"]["amp"] == "none"
    assert cfg2["teacher_amp"] == "none"
    nokd = {"data": data, "epochs": 1, "threads": 1, "kd": "none", "cache_dir": root / "frames"}
    api.distill(**nokd, out=root / "s3", seed=4)
    assert json.loads((root / "s3" / "config.json").read_text())["augment_seed"] == 4


def test_a_bad_augment_seed_is_refused_before_any_work(tiny, tmp_path):
    root, data, teacher = tiny
    with pytest.raises(ConfigError, match="--augment-seed must be"):
        api.distill(data=data, teacher=teacher, out=tmp_path / "x", augment_seed=-1)
    assert not (tmp_path / "x").exists()
