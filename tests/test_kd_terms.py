"""KD terms as a registry: a run's KD is a mapping of named terms to weights and options.

A new term is one file: `CosineKD` below is declared here, in the test, and trained with.
The old spellings (`--kd both`, `--alpha`, `--beta`, `--temperature`, `--feature-kd`) name
the same mappings, and run folders written in them are still read and reused.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from crkd_core import api
from crkd_core.cli import build_parser
from crkd_core.commands._args import config_from_args
from crkd_core.distributed import init_distributed
from crkd_core.errors import ConfigError, FileFormatError
from crkd_core.experiment import RunDir, RunRecord, StudentRunConfig, reuse_or_resume
from crkd_core.experiment.train import run_config, stale_settings, student_job
from crkd_core.io import atomic_write_json, read_json
from crkd_core.losses import KD_TERMS, kd_term
from crkd_core.losses.registry import kd_label, parse_kd
from crkd_core.models import build_student, build_teacher
from crkd_core.models.network import SLROutput
from crkd_core.tasks import Distiller

from .helpers import write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A")],
    "dev": [("v4", "A C")],
    "test": [("v5", "B")],
}


# -- a new KD term, in one place: what a `crkd_core/losses/kd_cosine.py` would hold ------------
class CosineKD(nn.Module):
    """1 - cos(z_s, z_t) of per-frame logits, averaged over valid frames."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, student: SLROutput, teacher: SLROutput) -> torch.Tensor:
        cos = F.cosine_similarity(student.logits, teacher.logits.detach(), dim=-1, eps=self.eps)
        mask = torch.arange(cos.shape[1])[None, :] < student.lengths[:, None]
        return ((1 - cos) * mask).sum() / mask.sum().clamp_min(1)

    def __str__(self) -> str:
        return "COS(logits)"


if "test_cosine" not in KD_TERMS:  # the module may be imported twice (pytest's rewrite)

    @kd_term("test_cosine", key="kd_cos", weight=1.0, eps=1e-8)
    def cosine_term(variant: str, eps: float) -> CosineKD:
        return CosineKD(eps)


# -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("kdterms")
    data = write_phoenix(root / "data", ROWS)
    api.train_teacher(data=data, out=root / "teacher", epochs=1, cache_dir=str(root / "cache"))
    return root, data, root / "teacher"


def test_a_new_kd_term_declared_in_one_file_trains(teacher):
    root, data, run = teacher
    out = root / "cosine"
    record = api.distill(
        data=data,
        teacher=run,
        out=out,
        kd="feature,test_cosine=2:eps=1e-6",
        epochs=1,
        cache_dir=str(root / "cache"),
    )
    assert record.kd == "feature+test_cosine"
    assert record.loss == "L = 1*CTC + 1*CTC_visual + 10*MSE(frame_map,scale) + 2*COS(logits)"
    assert record.distill.kd_terms == {
        "feature": {"weight": 10.0},
        "test_cosine": {"weight": 2.0, "eps": 1e-6},
    }
    logged = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert "train_kd_cos" in logged and "train_kd_feat" in logged
    assert RunRecord.read(out).distill == record.distill  # metrics.json reads back
    cfg = StudentRunConfig(data=data, teacher=run, out=out, epochs=1, kd="feature,test_cosine=2")
    assert stale_settings(RunDir(out), cfg) == ["kd_terms.test_cosine.eps: was 1e-06, now 1e-08"]


@pytest.mark.parametrize(
    "spec,terms",
    [
        ("none", {}),
        ("feature", {"feature": {}}),
        ("logit", {"logit": {}}),
        ("both", {"feature": {}, "logit": {}}),
        ("feature=10,logit=5:T=8", {"feature": {"weight": 10}, "logit": {"weight": 5, "T": 8}}),
        (
            {"logit": 5, "feature": {"weight": 1}},
            {"logit": {"weight": 5}, "feature": {"weight": 1}},
        ),
    ],
)
def test_kd_spellings_name_terms(spec, terms):
    assert parse_kd(spec) == terms


@pytest.mark.parametrize(
    "spec,error",
    [
        ("wavelet=3", "unknown KD term 'wavelet'"),
        ("logit:tau=3", "has no option 'tau'"),
        ("logit=-1", "weight must be a finite number >= 0"),
        ("logit:T=0", "T must be a finite number > 0"),
        ("logit:T", "needs a value"),
        ("feature,feature=3", "named twice"),
    ],
)
def test_bad_kd_terms_are_refused(spec, error):
    with pytest.raises(ConfigError, match=error):
        parse_kd(spec)


def test_distiller_builds_its_terms_from_the_registry():
    old = Distiller(build_student("cpu", 5), build_teacher("cpu", 5), "both", alpha=10, beta=25)
    new = Distiller(
        build_student("cpu", 5, variant="recover"),
        build_teacher("cpu", 5),
        kd={"logit": {"weight": 25, "T": 8}, "feature": 10},
    )
    assert str(old.loss) == "L = 1*CTC + 1*CTC_visual + 10*MSE(frame_map,scale) + 25*T^2*KL(T=8)"
    assert str(new.loss) == "L = 1*CTC + 1*CTC_visual + 10*MSE(frame_map,recover) + 25*T^2*KL(T=8)"
    with pytest.raises(ConfigError, match="unknown KD setting"):
        Distiller(build_student("cpu", 5), build_teacher("cpu", 5), "both", gamma=1)


def test_labels_keep_the_mode_names():
    assert [kd_label(parse_kd(m)) for m in ("none", "feature", "logit", "both")] == [
        "none",
        "feature",
        "logit",
        "both",
    ]


def distill_config(tmp_path, *argv: str) -> StudentRunConfig:
    (tmp_path / "d").mkdir(exist_ok=True)
    (tmp_path / "t").mkdir(exist_ok=True)
    (tmp_path / "t" / "checkpoint.json").write_text("{}")
    args = build_parser("distill").parse_args(
        [
            "distill",
            "--data",
            str(tmp_path / "d"),
            "--teacher",
            str(tmp_path / "t"),
            "--out",
            "o",
            *argv,
        ]
    )
    return config_from_args(StudentRunConfig, args)


@pytest.mark.parametrize(
    "old,new",
    [
        ([], ["--kd", "feature=10,logit=5:T=8"]),  # the cpu preset's
        (["--kd", "both", "--alpha", "3"], ["--kd", "feature=3,logit"]),
        (["--kd", "logit", "--alpha", "3", "--temperature", "2"], ["--kd", "logit=5:T=2"]),
        (["--kd", "none", "--beta", "1"], ["--kd", "none"]),
        (["--feature-kd", "recover"], ["--student-variant", "recover"]),
    ],
)
def test_old_flags_are_spellings_of_terms(tmp_path, old, new):
    a, b = distill_config(tmp_path, *old), distill_config(tmp_path, *new)
    assert (a.kd_terms(), a.kd_label, a.variant) == (b.kd_terms(), b.kd_label, b.variant)


def test_a_weight_set_twice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="set twice"):
        distill_config(tmp_path, "--kd", "logit=3", "--beta", "4").kd_terms()


def test_a_run_folder_in_the_old_spelling_is_read_and_reused(teacher):
    """metrics.json and config.json as written before KD terms had names."""
    root, data, run = teacher
    out = root / "old-spelling"
    api.distill(data=data, teacher=run, out=out, kd="logit", beta=3.0, temperature=4.0, epochs=1)
    for name in ("config.json", "metrics.json"):
        d = read_json(out / name)
        del d["kd_terms"]
        d |= {"feature_kd": "scale", "alpha": 10.0, "beta": 3.0, "temperature": 4.0}
        atomic_write_json(out / name, d)
    record = RunRecord.read(out)
    assert record.distill.kd_terms == {"logit": {"weight": 3.0, "T": 4.0}}
    assert record.distill.weight("feature") == 0.0
    same = dict(data=data, teacher=run, out=out, epochs=1)
    for kd in ("logit=3:T=4", {"logit": {"weight": 3, "T": 4}}):
        assert reuse_or_resume(out, StudentRunConfig(**same, kd=kd)) == (record, False)
    with pytest.raises(ConfigError, match="temperature: was 4.0, now 8.0"):
        reuse_or_resume(out, StudentRunConfig(**same, kd="logit=3"))
    # resuming compares the whole config: the old spelling and the new are the same config
    cfg = StudentRunConfig(**same, kd="logit=3:T=4")
    RunDir(out)._check_same_config(run_config(cfg, student_job(cfg), init_distributed("cpu")))


@pytest.mark.parametrize(
    "kd_terms,error",
    [
        ([], "kd_terms must be a JSON object"),
        ({"logit": 5}, "kd_terms.logit must be a JSON object"),
        ({"logit": {"T": 8}}, "key 'weight' is missing"),
        ({"logit": {"weight": 5, "T": "hot"}}, "kd_terms.logit.T must be a finite number"),
    ],
)
def test_damaged_kd_terms_in_metrics_are_refused(teacher, tmp_path, kd_terms, error):
    _, _, run = teacher
    student = {"role": "student", "teacher_run": str(run), "teacher_input_size": 64}
    student |= {"student_variant": "scale", "kd": "logit", "kd_terms": kd_terms}
    atomic_write_json(tmp_path / "metrics.json", read_json(run / "metrics.json") | student)
    with pytest.raises(FileFormatError, match=error):
        RunRecord.read(tmp_path)


def test_gloss_logit_kd_leaves_the_blank_out():
    """`logit-gloss`: the KL over glosses alone, on the teacher's gloss frames. A student that
    differs from its teacher only in the blank's logit, or only on the teacher's blank frames,
    has nothing to learn from it; one that ranks the glosses otherwise does."""
    from crkd_core.losses.kd_logits import GlossLogitKD

    term = KD_TERMS.get("logit-gloss")
    assert (term.weight, term.options) == (5.0, {"T": 2.0})
    loss = term.build("scale", T=2.0)
    assert isinstance(loss, GlossLogitKD) and str(loss) == "T^2*KL_gloss(T=2)"
    torch.manual_seed(0)
    zt = torch.randn(2, 5, 6)
    zt[:, :2, 0] = 10.0  # the teacher's blank frames: 0 and 1 of each clip
    lengths = torch.tensor([5, 4])
    teacher = SLROutput(zt, lengths)
    blank_only = zt.clone()
    blank_only[..., 0] += 3.0  # the student's blank is all that differs
    blank_only[:, :2] = torch.randn(2, 2, 6)  # and anything on the teacher's blank frames
    assert float(loss(SLROutput(blank_only, lengths), teacher)) == pytest.approx(0.0, abs=1e-6)
    other = zt.clone()
    other[:, 2:, 1:] = other[:, 2:, 1:].flip(-1)
    assert float(loss(SLROutput(other, lengths), teacher)) > 0.01
    assert parse_kd("feature,logit-gloss=3:T=1") == {
        "feature": {},
        "logit-gloss": {"weight": 3.0, "T": 1.0},
    }
