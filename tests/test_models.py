import pytest
import torch

from crkd_core.errors import ConfigError
from crkd_core.models import build_student, build_teacher
from crkd_core.models.layers import TSCM, Neighbours, ResBlockT, TemporalConv
from crkd_core.models.presets import PRESETS, build_student_config


def test_tscm_has_no_parameters_and_shifts_channels_as_specified():
    tscm = TSCM()
    assert sum(p.numel() for p in tscm.parameters()) == 0
    lengths = torch.tensor([3, 2])
    # frame value = 10 * packed index + 1, channel c adds c/100 -> every cell is traceable
    n, c = int(lengths.sum()), 6
    x = (10 * torch.arange(n).float() + 1).view(n, 1, 1, 1) + torch.arange(c).float().view(
        1, c, 1, 1
    ) / 100
    out = tscm(x.expand(n, c, 2, 2).clone(), Neighbours.from_lengths(lengths))[:, :, 0, 0]
    starts, ends = {0, 3}, {2, 4}
    for i in range(n):
        for ch in range(c):
            src = i - 1 + ch % 3  # channel c comes from frame t - 1 + (c mod 3)
            crosses = (ch % 3 == 0 and i in starts) or (ch % 3 == 2 and i in ends)
            expected = 0.0 if crosses else 10 * src + 1 + ch / 100
            assert out[i, ch].item() == pytest.approx(expected), (i, ch)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("lengths", [[3, 2], [1], [1, 4, 1], [5]])
def test_tscm_shifted_path_equals_the_gather_path(lengths, channels_last):
    """Packed clips take the slice-shifting path; a bare neighbour table (export, streaming)
    gathers rows. Both copy the same values, and their gradients are the same sums."""
    lengths = torch.tensor(lengths)
    nb = Neighbours.from_lengths(lengths)
    table = Neighbours(nb.prev, nb.next)  # no masks: the gather path
    x = torch.randn(int(lengths.sum()), 7, 3, 3)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(x.shape)
    grads = []
    for neighbours in (nb, table):
        xi = x.clone().requires_grad_(True)
        y = TSCM()(xi, neighbours)
        y.backward(g)
        grads.append((y.detach(), xi.grad))
    assert torch.equal(grads[0][0], grads[1][0])
    assert torch.equal(grads[0][1], grads[1][1])


def test_neighbours_respect_clip_boundaries():
    nb = Neighbours.from_lengths(torch.tensor([2, 1, 3]))
    assert nb.prev.tolist() == [6, 0, 6, 6, 3, 4]
    assert nb.next.tolist() == [1, 6, 6, 4, 5, 6]


def test_resblockt_shapes_and_gradient():
    block = ResBlockT(8, 16, stride=2)
    x = torch.randn(5, 8, 12, 12, requires_grad=True)
    y = block(x, Neighbours.from_lengths(torch.tensor([5])))
    assert y.shape == (5, 16, 6, 6)
    y.sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize(
    "spec,same,lengths,expected",
    [
        ("K5-P2-K5-P2", False, [40, 16], [7, 1]),
        ("K5-P2-K5", True, [40, 17], [20, 8]),
    ],
)
def test_temporal_conv_output_lengths_match_forward(spec, same, lengths, expected):
    conv = TemporalConv(4, 4, spec, same)
    lengths = torch.tensor(lengths)
    assert conv.output_lengths(lengths).tolist() == expected
    for n, e in zip(lengths.tolist(), expected, strict=True):
        assert conv(torch.randn(1, n, 4), torch.tensor([n])).shape[1] == e


@pytest.mark.parametrize("variant", ["scale", "recover"])
def test_cpu_preset_shapes(variant):
    teacher = build_teacher("cpu", 11)
    student = build_student("cpu", 11, variant=variant)
    video_t = torch.randn(2, 12, 3, 64, 64)
    video_s = torch.randn(2, 12, 3, 16, 16)
    lengths = torch.tensor([12, 9])
    ot, os_ = teacher(video_t, lengths), student(video_s, lengths)
    assert ot.logits.shape == os_.logits.shape == (2, 6, 11)
    assert ot.lengths.tolist() == teacher.output_lengths(lengths).tolist() == [6, 4]
    n = int(lengths.sum())
    assert ot.features["frame_map"].shape == (n, 128, 4, 4)
    expected_map = (4, 4) if variant == "scale" else (2, 2)
    assert os_.features["frame_map"].shape == (n, 128, *expected_map)


def test_padding_does_not_change_a_clip_output():
    """Packed frames: a clip's output is the same alone or padded in a batch."""
    torch.manual_seed(0)
    m = build_teacher("cpu", 7).eval()
    clip = torch.randn(1, 11, 3, 64, 64)  # odd: a pooling window reaches past its end
    other = torch.randn(1, 14, 3, 64, 64)
    padded = torch.zeros(2, 14, 3, 64, 64)
    padded[0, :11], padded[1] = clip[0], other[0]
    with torch.no_grad():
        alone = m(clip, torch.tensor([11])).logits
        batch = m(padded, torch.tensor([11, 14])).logits
    assert torch.allclose(alone[0], batch[0, : alone.shape[1]], atol=1e-5)


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64])
def test_scale_student_always_ends_on_teacher_map(size):
    m = build_student("cpu", 5, size)
    out = m(torch.randn(1, 8, 3, size, size), torch.tensor([8]))
    assert out.features["frame_map"].shape[-2:] == (4, 4)


def test_student_smaller_than_its_map_is_refused():
    with pytest.raises(ConfigError, match="smaller than its frame map"):
        build_student_config(PRESETS.get("paper"), 4)


def test_paper_preset_map_sizes_match():
    p = PRESETS.get("paper")
    assert p.map_size == 7
    cfg = build_student_config(p, 112)
    assert cfg.trunk.widths[-1] == p.teacher.trunk.widths[-1] == 512


@pytest.mark.parametrize("preset,half,most", [("paper", 112, 0.25), ("cpu", 32, 0.3)])
def test_lrinet_at_half_resolution_costs_at_most_a_quarter_of_the_teacher(preset, half, most):
    """The paper's ratio: half the teacher's resolution, <= ~0.25x its GMACs (counts, not fps);
    cpu's LRINet has the teacher's temporal head (`--head-init teacher`): 0.27x."""
    from crkd_core.cost import gmacs_per_frame

    teacher = gmacs_per_frame(build_teacher(preset, 11), frames=16)
    student = build_student(preset, 11, half)
    assert PRESETS.get(preset).teacher.input_size == 2 * half
    assert gmacs_per_frame(student, frames=16) <= most * teacher


@pytest.mark.parametrize(
    "preset,size,variant,stages",
    [
        # at half resolution LRINet's stages run at the teacher's (its stem output = stage 1)
        ("paper", 112, "scale", (56, 28, 14, 7)),
        ("cpu", 32, "scale", (16, 8, 4, 4)),
        ("cpu", 16, "scale", (8, 4, 4, 4)),
        ("cpu", 32, "recover", (16, 8, 4, 2)),
        ("cpu", 16, "recover", (8, 4, 2, 2)),
    ],
)
def test_lrinet_downsamples_where_the_teacher_does(preset, size, variant, stages):
    cfg = build_student_config(PRESETS.get(preset), size, variant)
    res = size // cfg.trunk.stem_stride // (2 if cfg.trunk.maxpool else 1)
    got = []
    for stride in cfg.trunk.strides:
        res //= stride
        got.append(res)
    assert tuple(got) == stages


@pytest.mark.parametrize("lengths", [[7, 5, 2], [3, 7], [1, 6, 6]])
def test_bilstm_without_packing_equals_the_packed_lstm(lengths):
    """On a CPU, padded batches run each direction unpacked (the backward one on sequences
    reversed within their lengths): the packed LSTM's outputs and gradients, up to float
    rounding (fp32: the kernels differ, measured differences about 1e-7)."""
    from crkd_core.models.layers import BiLSTM

    torch.manual_seed(0)
    m = BiLSTM(6, 5, 2).train()
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), 7, 6)
    g = torch.randn(len(lengths), 7, 10)
    results = []
    for run in ("packed", "unpacked"):
        xi = x.clone().requires_grad_(True)
        m.zero_grad()
        if run == "packed":
            p = torch.nn.utils.rnn.pack_padded_sequence(
                xi, lengths, batch_first=True, enforce_sorted=False
            )
            out = torch.nn.utils.rnn.pad_packed_sequence(
                m.lstm(p)[0], batch_first=True, total_length=7
            )[0]
        else:
            out = m(xi, lengths)
        out.backward(g)
        results.append((out.detach(), xi.grad, [q.grad.clone() for q in m.parameters()]))
    (a, ga, wa), (b, gb, wb) = results
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(ga, gb, atol=1e-5)
    assert all(torch.allclose(u, v, atol=1e-5) for u, v in zip(wa, wb, strict=True))
    assert not b[torch.arange(7)[None, :] >= lengths[:, None]].any()  # zeros past each length


def test_head_init_copies_the_teachers_trained_head():
    """`--head-init teacher`: LRINet's head is the teacher's, weight for weight, so the two
    read a frame sequence alike; a preset whose heads differ (paper) is refused by name."""
    from crkd_core.models.presets import init_head_from

    torch.manual_seed(0)
    teacher = build_teacher("cpu", 11)
    for p in teacher.head.parameters():  # not the initial values both would share by chance
        p.data.normal_()
    student = build_student("cpu", 11, 32)
    assert init_head_from(student, teacher) == len(teacher.head.state_dict())
    x, lengths = torch.randn(2, 6, teacher.cfg.trunk.channels), torch.tensor([6, 4])
    teacher.eval(), student.eval()
    assert torch.equal(student.head(x, lengths)[0], teacher.head(x, lengths)[0])
    with pytest.raises(ConfigError, match="--head-init teacher"):
        init_head_from(build_student("paper", 11), build_teacher("paper", 11))
