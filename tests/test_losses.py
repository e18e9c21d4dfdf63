import dataclasses

import pytest
import torch

from crkd_core.data.dataset import Batch
from crkd_core.errors import ConfigError
from crkd_core.losses import FeatureKD, LogitKD
from crkd_core.losses.ctc import ctc_min_length
from crkd_core.models import build_student, build_teacher
from crkd_core.models.network import NetConfig, SLRNet, SLROutput
from crkd_core.tasks import CTCTask, Distiller


def out(logits, lengths, fmap=None):
    return SLROutput(logits, torch.tensor(lengths), {"frame_map": fmap} if fmap is not None else {})


def test_feature_kd_zero_for_identical_maps_positive_otherwise():
    f = torch.randn(6, 8, 4, 4)
    kd = FeatureKD("scale")
    assert kd(out(None, [1], f), out(None, [1], f.clone())).item() == 0.0
    assert kd(out(None, [1], f + 0.1), out(None, [1], f)).item() == pytest.approx(0.01, rel=1e-4)


def test_feature_kd_scale_refuses_unequal_maps_and_recover_upsamples():
    small, big = torch.ones(3, 8, 2, 2), torch.ones(3, 8, 4, 4)
    with pytest.raises(ConfigError, match="scale KD needs equal maps"):
        FeatureKD("scale")(out(None, [1], small), out(None, [1], big))
    assert FeatureKD("recover")(out(None, [1], small), out(None, [1], big)).item() == 0.0


def test_logit_kd_zero_for_identical_positive_otherwise_and_masked():
    z = torch.randn(2, 5, 7)
    kd = LogitKD(8.0)
    assert kd(out(z, [5, 3]), out(z.clone(), [5, 3])).item() == pytest.approx(0.0, abs=1e-6)
    assert kd(out(z + torch.randn_like(z), [5, 3]), out(z, [5, 3])).item() > 0
    # frames past a clip's length do not count
    z2 = z.clone()
    z2[1, 3:] += 100
    assert kd(out(z2, [5, 3]), out(z, [5, 3])).item() == pytest.approx(0.0, abs=1e-6)


def test_ctc_min_length_counts_repeats():
    assert ctc_min_length([1, 2, 3]) == 3
    assert ctc_min_length([1, 1, 2, 2]) == 6


def tiny_batch(b=2, t=12):
    torch.manual_seed(0)
    return Batch(
        torch.randn(b, t, 3, 64, 64),
        torch.tensor([t, t - 2]),
        torch.tensor([[1, 2, 3], [2, 4, 0]]),
        torch.tensor([3, 2]),
        ["a", "b"],
        torch.randn(b, t, 3, 16, 16),
    )


def test_distiller_formula_and_frozen_teacher_gets_no_gradient():
    teacher, student = build_teacher("cpu", 5), build_student("cpu", 5)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    d = Distiller(student, teacher, "both", "scale", alpha=10, beta=25, temperature=8)
    assert str(d.loss) == "L = 1*CTC + 1*CTC_visual + 10*MSE(frame_map,scale) + 25*T^2*KL(T=8)"
    d.train()
    assert not teacher.training  # train() on the distiller leaves the teacher in eval mode
    losses = d(tiny_batch())
    assert set(losses) == {"ctc", "ctc_visual", "kd_feat", "kd_logit", "total"}
    losses["total"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert not any(k.startswith("teacher") for k in d.state_dict())


@pytest.mark.parametrize(
    "kd,terms", [("none", {"ctc"}), ("feature", {"ctc", "kd_feat"}), ("logit", {"ctc", "kd_logit"})]
)
def test_kd_modes_select_terms(kd, terms):
    d = Distiller(build_student("cpu", 5), build_teacher("cpu", 5), kd)
    # the cpu LRINet has the teacher's head, visual CTC included
    assert set(d(tiny_batch())) == terms | {"ctc_visual", "total"}


def test_kd_without_teacher_is_refused():
    with pytest.raises(ConfigError, match="needs a teacher"):
        Distiller(build_student("cpu", 5), None, "both")


def test_ctc_task_views():
    task = CTCTask(build_teacher("cpu", 5), "teacher")
    assert torch.isfinite(task(tiny_batch())["total"])
    b = tiny_batch()
    b.student_video = None
    with pytest.raises(ConfigError, match="no student view"):
        CTCTask(build_student("cpu", 5), "student")(b)


def with_visual_ctc(model, weight=0.5):
    """The same network with a visual-CTC head (VAC's auxiliary classifier before the BiLSTM)."""
    cfg = dataclasses.replace(
        model.cfg, head=dataclasses.replace(model.cfg.head, visual_ctc=weight)
    )
    return SLRNet(cfg, model.num_classes)


def test_visual_ctc_is_a_training_term_only():
    model = with_visual_ctc(build_teacher("cpu", 5), 0.5)
    task = CTCTask(model, "teacher")
    assert str(task.loss) == "L = 1*CTC + 0.5*CTC_visual"
    task.train()
    batch = tiny_batch()
    out = model(batch.video, batch.video_lengths)
    assert out.features["visual_logits"].shape == out.logits.shape
    losses = task(batch)
    assert set(losses) == {"ctc", "ctc_visual", "total"}
    assert torch.allclose(losses["total"], losses["ctc"] + 0.5 * losses["ctc_visual"])
    assert not torch.allclose(losses["ctc"], losses["ctc_visual"])  # two classifiers
    losses["total"].backward()
    assert model.head.visual.weight.grad.abs().sum() > 0
    model.eval()  # inference and export see the BiLSTM's logits only
    assert "visual_logits" not in model(batch.video, batch.video_lengths).features


def test_head_config_without_visual_ctc_still_loads():
    """Checkpoints written before the field existed have no `visual_ctc` in their meta."""
    cfg = build_teacher("cpu", 5).cfg.to_dict()
    del cfg["head"]["visual_ctc"]
    assert NetConfig.from_dict(cfg).head.visual_ctc == 0.0
