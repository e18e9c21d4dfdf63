"""The teacher cache: students of one teacher share the frozen teacher's forward pass, clip by
clip, and a run that fills the cache trains exactly as an uncached one."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from crkd_core import api
from crkd_core.models import build_teacher
from crkd_core.teacher_cache import TeacherCache, module_digest

from .helpers import write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A"), ("v6", "A")],
    "dev": [("v4", "A C")],
    "test": [("v5", "B")],
}


class Counting(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, video, lengths):
        self.calls += 1
        return self.inner(video, lengths)

    def output_lengths(self, lengths):
        return self.inner.output_lengths(lengths)


def _teacher(seed=0):
    torch.manual_seed(seed)
    return build_teacher("cpu", 5).eval()


def _clip(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 6, 3, 64, 64, generator=g), torch.tensor([6, 4])


def test_a_second_call_reads_the_outputs_back_without_the_teacher(tmp_path):
    teacher = Counting(_teacher())
    cache = TeacherCache(tmp_path, teacher)
    video, lengths = _clip()
    first = cache(video, lengths)
    again = TeacherCache(tmp_path, teacher)(video, lengths)  # another run, same folder
    assert teacher.calls == 1
    assert torch.equal(first.lengths, again.lengths)
    assert first.logits.shape == again.logits.shape
    assert first.features.keys() == again.features.keys()
    for i in range(len(lengths)):  # every valid step and frame, bit for bit
        assert torch.equal(valid(first, i), valid(again, i))
        steps = int(first.lengths[i])
        assert torch.equal(
            first.features["temporal"][i, :steps], again.features["temporal"][i, :steps]
        )
    for k in ("frame_map", "frame_vec"):  # packed: valid frames only
        assert torch.equal(first.features[k], again.features[k])
    # past a clip's steps the batch holds zeros, which the KD terms mask out
    assert not again.logits[1, int(again.lengths[1]) :].any()
    assert cache.stats() == {"hits": 0, "misses": 2}  # clips


def valid(out, i):
    """Clip i's logits over its own output steps."""
    return out.logits[i, : int(out.lengths[i])]


def test_a_clip_is_found_again_in_another_batch(tmp_path):
    """Entries are per clip: a clip computed beside one clip is read back beside another, in
    another position, and only the new clip is computed (as a batch of its own)."""
    teacher = Counting(_teacher())
    video, lengths = _clip()
    first = TeacherCache(tmp_path, teacher)(video, lengths)
    other, _ = _clip(1)
    # clip 1 of the first batch now comes first, beside a new clip of 5 frames
    mixed = torch.zeros(2, 6, 3, 64, 64)
    mixed[0, :4], mixed[1, :5] = video[1, :4], other[0, :5]
    cache = TeacherCache(tmp_path, teacher)
    out = cache(mixed, torch.tensor([4, 5]))
    assert cache.stats() == {"hits": 1, "misses": 1} and teacher.calls == 2
    assert torch.equal(valid(out, 0), valid(first, 1))  # read back: the same bits
    assert out.lengths.tolist() == teacher.inner.output_lengths(torch.tensor([4, 5])).tolist()
    assert out.logits.shape == first.logits.shape  # padded to the batch's steps
    n = 4  # packed features: clip 1's frames of the first batch, now first
    assert torch.equal(out.features["frame_map"][:n], first.features["frame_map"][6 : 6 + n])
    # the new clip, computed alone: as in a batch, up to float rounding (fp32, summation order)
    alone = teacher.inner(other[:1, :5], torch.tensor([5]))
    assert torch.allclose(valid(out, 1), valid(alone, 0), atol=1e-5, rtol=1e-5)


def test_another_input_or_another_teacher_misses(tmp_path):
    video, lengths = _clip()
    a = Counting(_teacher(0))
    TeacherCache(tmp_path, a)(video, lengths)
    other_video, _ = _clip(1)
    TeacherCache(tmp_path, a)(other_video, lengths)
    TeacherCache(tmp_path, a)(video, torch.tensor([6, 3]))
    assert a.calls == 3
    b = Counting(_teacher(1))
    assert module_digest(a) != module_digest(b)
    TeacherCache(tmp_path, b)(video, lengths)
    assert b.calls == 1


def test_a_damaged_entry_is_computed_again_with_a_warning(tmp_path):
    teacher = Counting(_teacher())
    cache = TeacherCache(tmp_path, teacher)
    video, lengths = _clip()
    good = cache(video, lengths)
    entry = cache.entry_paths(video, lengths)[0]
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable teacher-cache entry"):
        again = cache(video, lengths)
    assert teacher.calls == 2  # the damaged clip computed again, alone: float rounding only
    assert torch.allclose(valid(good, 0), valid(again, 0), atol=1e-5, rtol=1e-5)
    assert torch.equal(valid(good, 1), valid(again, 1))  # read back
    assert TeacherCache(tmp_path, teacher)(video, lengths) is not None  # rewritten whole
    assert teacher.calls == 2
    assert not list(tmp_path.rglob(".tmp-*"))


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcache")
    data = write_phoenix(root / "data", ROWS)
    teacher = root / "teacher"
    api.train_teacher(data=data, out=teacher, epochs=1, cache_dir=root / "frames", threads=1)
    return root, data, teacher


def _distill(root, data, teacher, name, cache, **kw):
    out = root / name
    api.distill(
        data=data,
        teacher=teacher,
        out=out,
        epochs=2,
        threads=1,
        cache_dir=root / "frames",
        teacher_cache=cache,
        **kw,
    )
    return json.loads((out / "metrics.json").read_text())


def test_students_of_a_teacher_share_its_pass_and_train_as_without(teacher_run):
    root, data, teacher = teacher_run
    cache = root / "teacher-cache"
    plain = _distill(root, data, teacher, "plain", None)
    first = _distill(root, data, teacher, "first", cache)
    # another seed and variant: the views are drawn from the teacher's seed, so they match
    second = _distill(root, data, teacher, "second", cache, feature_kd="recover", seed=3)
    assert plain["teacher_cache_hits"] == plain["teacher_cache_misses"] == 0
    assert first["teacher_cache_hits"] == 0 and first["teacher_cache_misses"] > 0
    # another student of the teacher: every teacher output comes from the cache
    assert second["teacher_cache_misses"] == 0
    assert second["teacher_cache_hits"] == first["teacher_cache_misses"]
    # and the cache changes nothing: same losses, same dev and test WER, same weights
    for key in ("best_dev_wer", "wer", "best_epoch"):
        assert first[key] == plain[key]
    a = load_file(root / "plain" / "checkpoint.safetensors")
    b = load_file(root / "first" / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


def test_a_student_without_kd_never_touches_the_cache(teacher_run):
    root, data, teacher = teacher_run
    cache = root / "unused-cache"
    rec = _distill(root, data, teacher, "nokd", cache, kd="none")
    assert rec["teacher_cache_hits"] == rec["teacher_cache_misses"] == 0
    assert not cache.exists()


@pytest.mark.parametrize("where", ["a-file", "a-file/cache"])
def test_a_teacher_cache_over_a_file_is_refused_before_any_work(teacher_run, capsys, where):
    from crkd_core.cli import main

    root, data, teacher = teacher_run
    (root / "a-file").write_text("not a folder")
    out = root / f"refused-{where.replace('/', '-')}"
    argv = ["distill", "--data", str(data), "--teacher", str(teacher), "--out", str(out)]
    assert main([*argv, "--teacher-cache", str(root / where)]) == 2
    err = capsys.readouterr().err
    assert "a-file: --teacher-cache needs a folder there, not a file" in err
    assert "Traceback" not in err and not out.exists()
