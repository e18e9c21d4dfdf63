"""The bad-input catalogue: each malformed input gets a specific error naming file, row, cause.

Every data case runs the real `train-teacher` path on a small PHOENIX-layout tree with one
defect, and checks that the error names the file (and the row where there is one), and that no
run folder was started. Checkpoint cases check that the existing run folder is untouched.
"""

import hashlib
import io
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crkd_core import api
from crkd_core.checkpoint import load_legacy_pt, load_model
from crkd_core.data.dataset import Batch
from crkd_core.data.vocab import Vocab
from crkd_core.distributed import DistEnv
from crkd_core.errors import CheckpointError, ConfigError, DataError, NumericalError, VocabError
from crkd_core.experiment import RunDir
from crkd_core.models import build_teacher
from crkd_core.tasks import CTCTask
from crkd_core.trainer import TrainConfig, Trainer

from .helpers import frame_dir, write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A")],
    "dev": [("v4", "A C")],
    "test": [("v5", "B")],
}
TRAIN_CSV = "annotations/manual/train.corpus.csv"


def corpus(root):
    return root / TRAIN_CSV


def set_text(root, text, encoding="utf-8"):
    corpus(root).write_bytes(text.encode(encoding) if isinstance(text, str) else text)


def replace_frame(root, vid, make):
    path = sorted(frame_dir(root, "train", vid).iterdir())[3]
    make(path)


def save_image(mode, size=(20, 20)):
    return lambda p: Image.new(mode, size).save(p)


DATA_CASES = [
    # (id, mutation, error type, pattern that names the file/row and cause)
    (
        "missing corpus file",
        lambda r: (r / "annotations/manual/dev.corpus.csv").unlink(),
        DataError,
        r"dev\.corpus\.csv: corpus file is missing",
    ),
    (
        "empty corpus file",
        lambda r: set_text(r, ""),
        DataError,
        r"train\.corpus\.csv: corpus file is empty",
    ),
    (
        "header only",
        lambda r: set_text(r, "id|folder|signer|annotation\n"),
        DataError,
        r"train\.corpus\.csv: corpus file has a header but no rows",
    ),
    (
        "wrong header",
        lambda r: set_text(r, "name|folder|signer|gloss\nv1|v1/1/*.png|S|A\n"),
        DataError,
        r"train\.corpus\.csv, row 1: wrong header",
    ),
    (
        "non-UTF-8 text",
        lambda r: set_text(r, "id|folder|signer|annotation\nv1|v1/1/*.png|S1|Ä\n", "latin-1"),
        DataError,
        r"train\.corpus\.csv, row 2: not valid UTF-8",
    ),
    (
        "duplicate ids",
        lambda r: set_text(r, corpus(r).read_text() + "v1|v1/1/*.png|S1|A\n"),
        DataError,
        r"train\.corpus\.csv, row 5: duplicate id 'v1' \(first on row 2\)",
    ),
    (
        "wrong field count",
        lambda r: set_text(r, corpus(r).read_text() + "v9|S1|A\n"),
        DataError,
        r"train\.corpus\.csv, row 5: expected 4 fields",
    ),
    (
        "empty annotation",
        lambda r: set_text(r, corpus(r).read_text().replace("|B C A", "| ")),
        DataError,
        r"train\.corpus\.csv, row 3: video 'v2' has an empty annotation",
    ),
    (
        "missing frame folder",
        lambda r: shutil.rmtree(frame_dir(r, "train", "v2")),
        DataError,
        r"train\.corpus\.csv, row 3: frame folder .*v2/1 does not exist",
    ),
    (
        "zero-length video",
        lambda r: [p.unlink() for p in frame_dir(r, "train", "v2").iterdir()],
        DataError,
        r"train\.corpus\.csv, row 3: frame folder .* holds no image files",
    ),
    (
        "corrupt PNG",
        lambda r: replace_frame(r, "v2", lambda p: p.write_bytes(b"not a png")),
        DataError,
        r"v2_fn000003-0\.png: unreadable or truncated image .*row 3",
    ),
    (
        "truncated PNG",
        lambda r: replace_frame(r, "v2", lambda p: p.write_bytes(p.read_bytes()[:60])),
        DataError,
        r"v2_fn000003-0\.png: unreadable or truncated image",
    ),
    (
        "grey-scale frame",
        lambda r: replace_frame(r, "v3", save_image("L")),
        DataError,
        r"v3_fn000003-0\.png, row 4: frame is L, expected RGB",
    ),
    (
        "RGBA frame",
        lambda r: replace_frame(r, "v3", save_image("RGBA")),
        DataError,
        r"v3_fn000003-0\.png, row 4: frame is RGBA, expected RGB",
    ),
    (
        "frame of the wrong size",
        lambda r: replace_frame(r, "v1", save_image("RGB", (21, 20))),
        DataError,
        r"v1_fn000003-0\.png, row 2: frame is 21x20, the video's first frame is 20x20",
    ),
    (
        "label longer than CTC allows",
        lambda r: set_text(r, corpus(r).read_text().replace("|B C A", "|A B C A B C A B")),
        DataError,
        r"train\.corpus\.csv, row 3: video 'v2' is too short for its label under CTC",
    ),
    ("dataset root missing", lambda r: shutil.rmtree(r), DataError, r"dataset root does not exist"),
]


@pytest.fixture
def tree(tmp_path):
    return write_phoenix(tmp_path / "data", ROWS)


@pytest.mark.parametrize("case,mutate,error,pattern", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_is_named_and_no_run_is_started(tree, tmp_path, case, mutate, error, pattern):
    mutate(tree)
    out = tmp_path / "run"
    with pytest.raises(error, match=pattern):
        api.train_teacher(data=tree, out=out, epochs=1, cache_dir=tmp_path / "cache")
    assert not out.exists(), "a failed start must not leave a run folder"


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    data = write_phoenix(root / "data", ROWS)
    run = root / "teacher"
    api.train_teacher(data=data, out=run, epochs=1, cache_dir=root / "cache")
    return data, run


def digest(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_gloss_not_in_vocabulary_at_evaluation(teacher_run, tmp_path):
    data, run = teacher_run
    other = shutil.copytree(data, tmp_path / "other")
    test_csv = other / "annotations/manual/test.corpus.csv"
    test_csv.write_text(test_csv.read_text().replace("|B", "|ZEBRA"))
    before = digest(run)
    with pytest.raises(VocabError, match=r"test\.corpus\.csv, row 2: gloss 'ZEBRA' is not in"):
        api.evaluate(run=run, data=other, split="test", cache_dir=tmp_path / "c")
    assert digest(run) == before


def test_checkpoint_for_another_preset(teacher_run, tmp_path):
    data, run = teacher_run
    before = digest(run)
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint\.json: teacher was trained with "
        r"preset 'cpu', not 'paper'",
    ):
        api.distill(data=data, teacher=run, out=tmp_path / "s", preset="paper", epochs=1)
    assert digest(run) == before and not (tmp_path / "s").exists()


def test_truncated_checkpoint(teacher_run, tmp_path):
    _, run = teacher_run
    broken = shutil.copytree(run, tmp_path / "broken")
    weights = broken / "checkpoint.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint\.safetensors: not a readable "
        r"safetensors file \(truncated\?\)",
    ):
        load_model(broken)


def test_checkpoint_meta_missing_or_garbled(teacher_run, tmp_path):
    _, run = teacher_run
    broken = shutil.copytree(run, tmp_path / "broken")
    (broken / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: cannot read checkpoint meta"):
        load_model(broken)
    (broken / "checkpoint.json").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: checkpoint meta file is missing"):
        load_model(broken)


def test_existing_run_is_not_overwritten(teacher_run):
    data, run = teacher_run
    before = digest(run)
    with pytest.raises(ConfigError, match="run folder exists and is not empty"):
        api.train_teacher(data=data, out=run, epochs=1)
    assert digest(run) == before


def test_empty_vocabulary():
    with pytest.raises(VocabError, match="empty"):
        Vocab.from_glosses([])


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/crkd-pwned",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    buf = io.BytesIO()
    pickle.dump({"weight": _Boom()}, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused or unreadable"):
        load_legacy_pt(path)
    assert not Path("/tmp/crkd-pwned").exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["NaN input", "Inf input"])
def test_non_finite_input_stops_training_with_pointer(tmp_path, bad):
    torch.manual_seed(0)
    task = CTCTask(build_teacher("cpu", 5), "teacher")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    trainer = Trainer(
        task,
        TrainConfig(epochs=1, batch_size=2, lr=1e-3),
        run.path,
        DistEnv(),
        {},
        Vocab.from_glosses("ABCD"),
        progress=False,
    )
    video = torch.zeros(2, 12, 3, 64, 64)
    video[1, 3] = bad
    batch = Batch(
        video,
        torch.tensor([12, 12]),
        torch.tensor([[1, 2], [3, 0]]),
        torch.tensor([2, 1]),
        ["ok", "bad"],
    )
    with pytest.raises(
        NumericalError,
        match=r"non-finite loss .* at epoch 1, batch 0 .*: clips \['bad'\] hold NaN or Inf pixels",
    ):
        trainer._step([batch])
    trainer.cfg.nan_policy = "skip"
    assert trainer._step([batch]) == {} and trainer.state.skipped_batches == 1


def test_pretrained_weights_map_and_refuse_wrong_shapes(tmp_path):
    """The optional ImageNet path: a torchvision-layout file loads; a wrong preset is refused."""
    from crkd_core.models.pretrained import load_resnet18_trunk, torchvision_key

    paper = build_teacher("paper", 5)
    fake = {
        torchvision_key(k, paper.trunk.cfg.blocks): torch.full_like(v, 0.5)
        for k, v in paper.trunk.state_dict().items()
    }
    fake["fc.weight"] = torch.zeros(1000, 512)
    torch.save(fake, tmp_path / "resnet18.pth")
    assert load_resnet18_trunk(paper.trunk, tmp_path / "resnet18.pth") == len(fake) - 1
    assert torch.all(paper.trunk.stem[0].weight == 0.5)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_resnet18_trunk(build_teacher("cpu", 5).trunk, tmp_path / "resnet18.pth")


def test_non_rgb_is_distinguished_from_corrupt(tmp_path):
    """A sanity check of the fixtures: a valid RGB frame is accepted."""
    from crkd_core.data.frames import read_image

    p = tmp_path / "ok.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(p)
    assert read_image(p, 8)[0].shape == (8, 8, 3)
