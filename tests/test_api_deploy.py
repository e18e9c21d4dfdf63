"""`api.predict`, `api.export` and `api.demo`: the deployment library in one call each, returning
what `crkd predict`, `crkd export` and `crkd demo` print (tiny random-weight LRINet)."""

import numpy as np
import pytest
import torch
from PIL import Image

from crkd_core import api
from crkd_core.checkpoint import model_meta, save_model
from crkd_core.cli import main
from crkd_core.data.transforms import ViewSpec
from crkd_core.data.vocab import Vocab
from crkd_core.deploy.export import DIGEST_KEY, checkpoint_digest, read_metadata
from crkd_core.deploy.predict import Prediction, TimedGloss
from crkd_core.errors import CheckpointError, ConfigError, CRKDError
from crkd_core.models import build_student
from crkd_core.models.presets import PRESETS


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A cpu-preset LRINet run (random weights), another with other weights, and a folder of 30
    PNG frames."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("api_deploy")
    preset = PRESETS.get("cpu")
    vocab = Vocab.from_glosses([f"G{i}" for i in range(20)])
    torch.manual_seed(0)
    model = build_student(preset, len(vocab))
    spec = ViewSpec(preset.pre_size, preset.teacher.input_size, model.cfg.input_size)
    save_model(root / "run", model, model_meta(model, "cpu", spec, vocab, role="student"))
    torch.manual_seed(1)
    other = build_student(preset, len(vocab))
    save_model(root / "other", other, model_meta(other, "cpu", spec, vocab, role="student"))
    frames = np.random.default_rng(0).integers(0, 256, (30, 60, 80, 3), dtype=np.uint8)
    (root / "frames").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(root / "frames" / f"images{i + 1:04d}.png")
    yield root
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def exported(workspace):
    seen = []
    record = api.export(run=workspace / "run", int8="dynamic", on_file=seen.append)
    return record, seen


def test_export_returns_each_file_as_crkd_export_prints_it(workspace, exported):
    record, seen = exported
    run = workspace / "run"
    assert seen == record.files and record.digest == checkpoint_digest(run)
    parts = [(f.kind, f.part) for f in record.files]
    assert parts == [
        (kind, part) for kind in ("fp32", "int8 dynamic") for part in ("clip", "trunk step", "head")
    ]
    assert record.path() == run / "model.onnx"
    assert record.path("int8 dynamic", "head") == run / "model.int8.head.onnx"
    for f in record.files:
        assert f.path.is_file() and f.size == f.path.stat().st_size
        assert read_metadata(f.path)[DIGEST_KEY] == record.digest
        checked = f.part == "clip"
        assert (f.max_logit_diff is not None) == checked and len(f.check_lengths) == 2 * checked
    assert record.files[0].max_logit_diff < 1e-3
    assert str(record.files[0]).startswith(f"fp32: {run / 'model.onnx'} (")
    assert "max |logit diff| vs PyTorch at T=" in str(record.files[0])
    assert str(record.files[1]).startswith(f"fp32 streaming trunk step: {run / 'model.trunk.onnx'}")


def test_export_refuses_as_the_command_does(workspace, exported, tmp_path):
    with pytest.raises(ConfigError, match=r"--out must end in \.onnx"):
        api.export(run=workspace / "run", out=tmp_path / "model.txt")
    with pytest.raises(ConfigError, match="--int8 static needs --calibrate"):
        api.export(run=workspace / "run", out=tmp_path / "m.onnx", int8="static")
    with pytest.raises(ConfigError, match="--int8 must be one of dynamic, static"):
        api.export(run=workspace / "run", int8="int4")
    with pytest.raises(CheckpointError, match="lies in another run's folder"):
        api.export(run=workspace / "run", out=workspace / "other" / "sub" / "m.onnx", force=True)
    assert not (tmp_path / "m.onnx").exists() and not (workspace / "other" / "sub").exists()


def test_predict_recognises_a_clip_in_one_call(workspace, exported, capsys):
    run, frames = workspace / "run", workspace / "frames"
    p = api.predict(run=str(run), frames=str(frames))
    assert isinstance(p, Prediction) and p.stream is None
    assert all(isinstance(g, TimedGloss) and g.emission is None for g in p.glosses)
    assert p.input.source == str(frames) and p.input.engine == "PyTorch"
    assert p.input.fps == 25 and not p.input.fps_known
    assert p.text == " ".join(g.gloss for g in p.glosses) and p.labels
    assert all(0 <= g.start_s < g.end_s <= 30 / 25 for g in p.glosses)
    # the command prints exactly what the call returns
    assert main(["predict", "--run", str(run), "--frames", str(frames)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(p.input), *map(str, p.glosses), str(p)]
    onnx = api.predict(run=run, frames=frames, onnx=run / "model.onnx", fps=50.0)
    assert onnx.input.engine == "onnxruntime" and onnx.input.fps_known
    assert onnx.labels == api.predict(run=run, frames=frames, fps=50.0).labels


def test_predict_streams_with_a_callback_per_gloss(workspace):
    run, frames = workspace / "run", workspace / "frames"
    seen = []
    options = {"stream": True, "window": 16, "hop": 4, "margin": 4}
    p = api.predict(run=run, frames=frames, on_gloss=seen.append, **options)
    assert seen == p.glosses and p.input.stream_mode == "incremental"
    assert all(
        g.emission is not None and g.emission.rule in ("tail", "repeat", "flush") for g in p.glosses
    )
    assert p.stream is not None and p.stream.latency["windows"] > 0
    assert str(p.stream).startswith("stream: window 16, hop 4, margin 4 frames; ")
    recompute = api.predict(run=run, frames=frames, mode="recompute", **options)
    assert recompute.input.stream_mode == "recompute" and recompute.stream is not None


def test_predict_refuses_bad_options_before_any_work(tmp_path):
    nowhere = tmp_path / "no-run"
    with pytest.raises(ConfigError, match="--decoder must be one of greedy, beam"):
        api.predict(run=nowhere, frames=tmp_path, decoder="viterbi")
    with pytest.raises(ConfigError, match="--mode must be one of incremental, recompute"):
        api.predict(run=nowhere, frames=tmp_path, mode="fast")
    with pytest.raises(ConfigError, match="--beam-width must be > 0"):
        api.predict(run=nowhere, frames=tmp_path, beam_width=0)
    with pytest.raises(ConfigError, match="need 0 < hop < window"):
        api.predict(run=nowhere, frames=tmp_path, stream=True, window=8, hop=8)


def test_demo_builds_a_page_by_the_export_policy(workspace, tmp_path):
    from crkd_core.demo import ort_dist

    with pytest.raises(ConfigError, match="name one of a run"):
        api.demo()
    with pytest.raises(ConfigError, match="need 0 < hop < window"):
        api.demo(run=workspace / "run", window=8, hop=8)
    try:
        ort_dist()
    except CRKDError:
        pytest.skip("onnxruntime-web is not installed (make web)")
    run = workspace / "run"
    page = api.demo(run=run, out=tmp_path / "page", window=16, hop=4, margin=4)
    assert page.folder == tmp_path / "page" and page.run == run
    assert page.index.is_file() and (page.folder / "model.trunk.onnx").is_file()
    assert read_metadata(page.folder / "model.head.onnx")[DIGEST_KEY] == checkpoint_digest(run)
    checked = api.demo(page=page.folder)
    assert checked.folder == page.folder and checked.run is None
    # one policy for pages and exports: never into another run's folder, never over its files
    with pytest.raises(CheckpointError, match="lies in another run's folder.*build the page"):
        api.demo(run=run, out=workspace / "other" / "page", force=True)
    with pytest.raises(CheckpointError, match="exported from another run; pass --force"):
        api.demo(run=workspace / "other", out=page.folder)
    with pytest.raises(CheckpointError, match="exported from another run; pass --force"):
        api.export(run=workspace / "other", out=page.folder / "model.onnx", no_check=True)
    assert not (workspace / "other" / "page").exists()
