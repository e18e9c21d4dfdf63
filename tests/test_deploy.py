"""Deployment: ONNX parity at several lengths, int8, conv+BN folding, step timing, streaming
stabilisation, and `crkd export` / `crkd predict` end to end on tiny inputs (random weights)."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from crkd_core.checkpoint import model_meta, save_model
from crkd_core.cli import main
from crkd_core.data.frames import read_image
from crkd_core.data.transforms import ViewSpec, make_views
from crkd_core.data.vocab import Vocab
from crkd_core.decode import GlossSpan, greedy_decode
from crkd_core.deploy.export import export_onnx, read_metadata
from crkd_core.deploy.fuse import count_batchnorms, fold_conv_bn, to_channels_last
from crkd_core.deploy.quantize import quantize_int8
from crkd_core.deploy.runtime import OnnxRecognizer, TorchRecognizer
from crkd_core.deploy.sources import folder_source, model_input, video_source
from crkd_core.deploy.spans import ctc_align, decode_spans, min_frames, step_timing
from crkd_core.deploy.streaming import Stabiliser, StreamConfig, StreamingRecognizer
from crkd_core.errors import ConfigError
from crkd_core.models import build_student
from crkd_core.models.network import HeadConfig, NetConfig, SLRNet, SLROutput, TrunkConfig
from crkd_core.models.presets import PRESETS

TOL = 1e-4  # max |logit difference| between PyTorch and onnxruntime fp32
LENGTHS = (12, 20, 33)
SPAN_LINE = re.compile(r"^\s*\d+\.\d\d - +\d+\.\d\d s  G\d+  \(p=", re.M)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; two spinning threads crawl on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial BN statistics, so that folding them is really tested."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return model.eval()


def valid_padding_net() -> SLRNet:
    """A tiny net shaped like the `paper` preset: maxpool stem, K5-P2-K5-P2 without padding."""
    trunk = TrunkConfig(widths=(8, 16), blocks=(1, 1), strides=(1, 2), stem_width=8)
    head = HeadConfig(conv_dim=16, spec="K5-P2-K5-P2", lstm_hidden=8)
    torch.manual_seed(1)
    return randomise_batchnorm(SLRNet(NetConfig("teacher", "teacher", 32, trunk, head), 21))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, one_thread):
    """A cpu-preset LRINet run folder (random weights), a PNG frame folder and a lossless video
    of the same frames, and the run exported by `crkd export --int8`."""
    root = tmp_path_factory.mktemp("deploy")
    preset = PRESETS.get("cpu")
    vocab = Vocab.from_glosses([f"G{i}" for i in range(20)])
    torch.manual_seed(0)
    model = randomise_batchnorm(build_student(preset, len(vocab)))
    spec = ViewSpec(preset.pre_size, preset.teacher.input_size, model.cfg.input_size)
    run = root / "run"
    save_model(run, model, model_meta(model, "cpu", spec, vocab, role="student"))
    frames = np.random.default_rng(0).integers(0, 256, (30, 60, 80, 3), dtype=np.uint8)
    (root / "frames").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(root / "frames" / f"images{i + 1:04d}.png")
    write_lossless_video(root / "clip.mov", frames, fps=25)
    assert main(["export", "--run", str(run), "--int8"]) == 0
    return {"root": root, "run": run, "model": model, "spec": spec, "vocab": vocab}


def write_lossless_video(path, frames: np.ndarray, fps: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "rgb24"
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())


def assert_parity(model: SLRNet, rec: OnnxRecognizer, lengths=LENGTHS) -> None:
    s = model.cfg.input_size
    for t in lengths:
        video, n = torch.rand(1, t, 3, s, s) * 2 - 1, torch.tensor([t])
        ref, got = TorchRecognizer(model)(video, n), rec(video, n)
        assert got.logits.shape == ref.logits.shape, t
        assert torch.equal(got.lengths, ref.lengths), t
        assert (got.logits - ref.logits).abs().max() < TOL, t
        # random weights: compare the argmax only where the top-1 gap exceeds 2 * TOL, the most
        # that two logits within TOL can move it (a near-tie flips with the kernels)
        top = ref.logits.topk(2, -1)
        clear = (top.values[..., 0] - top.values[..., 1]) > 2 * TOL
        assert torch.equal(got.logits.argmax(-1)[clear], top.indices[..., 0][clear]), t


# --- export and onnxruntime -------------------------------------------------------------------


@pytest.mark.numerics
def test_onnx_matches_pytorch_at_several_lengths(workspace):
    rec = OnnxRecognizer(workspace["run"] / "model.onnx")
    assert_parity(workspace["model"], rec)
    assert NetConfig.from_dict(read_metadata(rec.path)["net"]) == workspace["model"].cfg


@pytest.mark.numerics
def test_onnx_parity_with_valid_padding_head(tmp_path):
    model = valid_padding_net()
    path = export_onnx(model, tmp_path / "v.onnx", frames=20)
    assert min_frames(model.cfg.head) == 16
    assert_parity(model, OnnxRecognizer(path), (16, 23, 40))


def test_onnx_recognizer_runs_a_padded_batch_clip_by_clip(workspace):
    rec, torch_rec = (
        OnnxRecognizer(workspace["run"] / "model.onnx"),
        TorchRecognizer(workspace["model"]),
    )
    video, lengths = torch.rand(2, 14, 3, 16, 16), torch.tensor([14, 9])
    got = rec(video, lengths)
    assert got.lengths.tolist() == [7, 4] and got.logits.shape == (2, 7, 21)
    assert not got.logits[1, 4:].any()  # zero padding past the shorter clip
    for b, n in enumerate(lengths.tolist()):
        # against each clip alone: in a padded PyTorch batch, the same-padding head's max-pool
        # lets one step past a clip's odd length into the next convolution (a known leak)
        ref = torch_rec(video[b : b + 1, :n], torch.tensor([n])).logits[0]
        assert (got.logits[b, : len(ref)] - ref).abs().max() < TOL


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_model_runs_and_decodes(workspace, tmp_path, mode):
    src = workspace["run"] / "model.onnx"
    if mode == "dynamic":
        path = workspace["run"] / "model.int8.onnx"  # written by `crkd export --int8`
    else:
        clips = [
            np.random.default_rng(i).uniform(-1, 1, (16, 3, 16, 16)).astype(np.float32)
            for i in range(2)
        ]
        path = quantize_int8(src, tmp_path / "s.onnx", "static", clips)
    assert read_metadata(path)["quantization"]["mode"] == mode
    rec, fp32 = OnnxRecognizer(path), OnnxRecognizer(src)
    for t in LENGTHS:
        video, n = torch.rand(1, t, 3, 16, 16) * 2 - 1, torch.tensor([t])
        q, f = rec(video, n), fp32(video, n)
        assert q.logits.shape == f.logits.shape
        assert (q.logits - f.logits).abs().max() < 0.1  # int8 is close, not exact
        hyp = greedy_decode(q.logits, q.lengths)[0]
        assert all(0 < label < 21 for label in hyp)


def test_static_int8_needs_calibration(workspace, tmp_path):
    with pytest.raises(ConfigError, match="calibration"):
        quantize_int8(workspace["run"] / "model.onnx", tmp_path / "q.onnx", "static")


# --- inference-time speed-ups -----------------------------------------------------------------


def test_conv_bn_folding_preserves_outputs():
    model = valid_padding_net()
    folded, both = fold_conv_bn(model), to_channels_last(fold_conv_bn(model))
    assert count_batchnorms(model) > 0 and count_batchnorms(folded) == 0
    video, lengths = torch.rand(2, 24, 3, 32, 32) * 2 - 1, torch.tensor([24, 19])
    ref = TorchRecognizer(model)(video, lengths).logits
    for m in (folded, both):
        assert (TorchRecognizer(m)(video, lengths).logits - ref).abs().max() < 1e-5
    assert count_batchnorms(model) > 0  # the original is untouched


# --- time spans ------------------------------------------------------------------------------


@pytest.mark.parametrize("preset,stride,offset", [("cpu", 2, 0.5), ("paper", 4, 7.5)])
def test_step_timing_follows_the_receptive_field(preset, stride, offset):
    timing = step_timing(PRESETS.get(preset).teacher.head)
    assert (timing.stride, timing.offset) == (stride, offset)


def test_step_spans_map_to_frames():
    timing = step_timing(HeadConfig(16, "K5-P2-K5-P2"))  # step j centred on 4j + 7.5
    assert timing.frames(GlossSpan(3, 0, 1, 1.0), 100) == GlossSpan(3, 6, 10, 1.0)
    assert timing.frames(GlossSpan(3, 2, 4, 1.0), 100) == GlossSpan(3, 14, 22, 1.0)
    assert timing.frames(GlossSpan(3, 20, 24, 1.0), 90).end == 90  # clipped to the clip


def peaky_log_probs(path: list[int], vocab: int = 6) -> torch.Tensor:
    logits = torch.full((len(path), vocab), -4.0)
    logits[torch.arange(len(path)), torch.tensor(path)] = 4.0
    return logits.log_softmax(-1)


@pytest.mark.parametrize("path", [[0, 1, 1, 0, 2, 0], [3, 0, 3, 3, 0], [1, 2, 2, 2, 0, 4, 4]])
def test_beam_spans_agree_with_greedy_spans_on_peaky_input(path):
    lp = peaky_log_probs(path)
    assert decode_spans(lp, "beam") == decode_spans(lp, "greedy")
    labels = greedy_decode(lp[None], torch.tensor([len(path)]))[0]
    assert [s.label for s in ctc_align(lp.double().numpy(), labels)] == labels


# --- streaming --------------------------------------------------------------------------------


class SliceModel:
    """A stand-in recogniser whose logits for a window are the slice of one fixed sequence.

    Frame t of the stream carries the value t; with `stride` 2 it emulates a head that keeps
    one output step per two frames (windows start at even frames).
    """

    input_size = 1

    def __init__(self, logits: torch.Tensor, stride: int):
        self.logits, self.stride = logits, stride

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput:
        frames = video[0, :, 0, 0, 0].long()
        steps = frames[:: self.stride] // self.stride
        return SLROutput(self.logits[steps][None], torch.tensor([len(steps)]))


def random_path(n: int, vocab: int, rng: np.random.Generator) -> list[int]:
    path: list[int] = []
    while len(path) < n:
        path += [0] * int(rng.integers(0, 5)) + [int(rng.integers(1, vocab))] * int(
            rng.integers(1, 4)
        )
    return path[:n]


def stream_all(model, timing, cfg: StreamConfig, n_frames: int) -> StreamingRecognizer:
    stream = StreamingRecognizer(model, timing, cfg, fps=25.0)
    emitted = []
    for t in range(n_frames):
        emitted += stream.push(torch.full((3, 1, 1), float(t)))
    stream.emitted = emitted + stream.flush()
    return stream


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("window,hop,margin", [(16, 4, 4), (24, 2, 0), (40, 8, 12), (10, 8, 0)])
def test_streaming_emits_the_offline_glosses(stride, window, hop, margin):
    rng = np.random.default_rng(window * 10 + hop + stride)
    timing = step_timing(HeadConfig(4, "K1" if stride == 1 else "K1-P2", same_padding=True))
    for _ in range(4):
        steps = int(rng.integers(20, 80))
        lp = peaky_log_probs(random_path(steps, 6, rng))
        offline = greedy_decode(lp[None], torch.tensor([steps]))[0]
        stream = stream_all(
            SliceModel(lp, stride), timing, StreamConfig(window, hop, margin), steps * stride
        )
        assert [e.span.label for e in stream.emitted] == offline
        assert all(e.latency_frames >= 0 for e in stream.emitted)


def test_stabiliser_rules_and_latency():
    stab = Stabiliser(margin=4, tolerance=1)
    a, b = GlossSpan(1, 2, 6, 1.0), GlossSpan(2, 9, 11, 1.0)
    # window [0, 12): A ends 6 frames before the end -> "tail"; B is within the margin
    assert stab.update([a, b], 0, 12) == [(a, "tail")]
    # window [0, 14): B seen again with the same span, not cut off before -> "repeat"
    assert stab.update([a, b], 0, 14) == [(b, "repeat")]
    assert stab.update([a, b], 0, 18, final=True) == []  # nothing emitted twice
    stream = stream_all(
        SliceModel(peaky_log_probs([0] * 4 + [3] * 3 + [0] * 25), 1),
        step_timing(HeadConfig(4, "K1", same_padding=True)),
        StreamConfig(16, 4, 4),
        32,
    )
    (e,) = stream.emitted
    assert (e.span.start, e.span.end, e.rule) == (4, 7, "tail")
    # the gloss's last frame is 6; the first window ending >= 7 + 4 frames ends at 12
    assert (e.emitted_at, e.latency_frames) == (11, 5)
    summary = stream.report.summary()
    assert summary["latency_frames_median"] == 5
    assert summary["latency_s_median"] >= 5 / 25


def test_stream_config_is_checked():
    for window, hop, margin in [(16, 8, 5), (8, 8, 0), (8, 0, 0)]:
        with pytest.raises(ConfigError):
            StreamConfig(window, hop, margin)


# --- frame sources and `crkd predict` ---------------------------------------------------------


def test_video_and_folder_give_the_training_view(workspace):
    spec, root = workspace["spec"], workspace["root"]
    folder = np.stack(list(folder_source(root / "frames", spec.pre_size).frames))
    video = video_source(root / "clip.mov", spec.pre_size)
    assert video.fps == 25
    assert np.array_equal(np.stack(list(video.frames)), folder)  # lossless video, same resize
    cache = np.stack([read_image(p, spec.pre_size)[0] for p in sorted((root / "frames").iterdir())])
    x = model_input(folder, spec, "student", 16)
    assert torch.equal(x, make_views(cache, spec, train=False).student)  # resize, crop, resize
    assert x.shape == (30, 3, 16, 16)


@pytest.mark.parametrize("source", ["--frames", "--video"])
def test_predict_prints_glosses_with_spans(workspace, capsys, source):
    path = workspace["root"] / ("frames" if source == "--frames" else "clip.mov")
    assert main(["predict", "--run", str(workspace["run"]), source, str(path)]) == 0
    out = capsys.readouterr().out
    assert SPAN_LINE.search(out), out
    assert re.search(r"^\d+ glosses: ", out, re.M), out


def test_predict_onnx_beam_and_stream(workspace, capsys):
    run, frames = str(workspace["run"]), str(workspace["root"] / "frames")
    assert (
        main(
            [
                "predict",
                "--run",
                run,
                "--frames",
                frames,
                "--fps",
                "50",
                "--onnx",
                str(workspace["run"] / "model.onnx"),
                "--decoder",
                "beam",
            ]
        )
        == 0
    )
    assert SPAN_LINE.search(capsys.readouterr().out)
    assert (
        main(
            [
                "predict",
                "--run",
                run,
                "--frames",
                frames,
                "--stream",
                "--window",
                "16",
                "--hop",
                "4",
                "--margin",
                "4",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "emitted at frame" in out and "added latency: median" in out, out


def test_predict_camera_without_opencv_fails_clearly(workspace, capsys):
    try:
        import cv2  # noqa: F401

        pytest.skip("OpenCV is installed")
    except ImportError:
        pass
    assert main(["predict", "--run", str(workspace["run"]), "--camera", "0"]) == 2
    assert "needs OpenCV" in capsys.readouterr().err
