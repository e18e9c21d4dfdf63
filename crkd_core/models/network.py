"""SLRNet: a 2D frame trunk (ResBlockT stages) plus a temporal head, returning `SLROutput`.

The teacher and LRINet are both SLRNets; they differ only in their `NetConfig` (widths,
strides, input size). Each returns its features by name, for distillation (timm-style
`forward_features` / `forward_head`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from .layers import BiLSTM, Neighbours, ResBlockT, TemporalConv, conv_bn


@dataclass(frozen=True)
class TrunkConfig:
    widths: tuple[int, ...]  # channels of each stage; the last is the frame map's channels
    blocks: tuple[int, ...]  # ResBlockT blocks per stage
    strides: tuple[int, ...]  # stride of each stage's first block
    stem_width: int
    stem_kernel: int = 7
    stem_stride: int = 2
    maxpool: bool = True
    tscm: bool = True
    map_size: int | None = None  # adaptive-pool the last map to this size when set
    out_channels: int | None = None  # a 1x1 conv to this many channels at the end, when set

    @property
    def channels(self) -> int:
        """Channels of the frame map."""
        return self.out_channels or self.widths[-1]


@dataclass(frozen=True)
class HeadConfig:
    conv_dim: int  # channels of the 1D temporal convolutions
    spec: str = "K5-P2-K5-P2"
    same_padding: bool = False
    lstm_hidden: int = 512  # per direction
    lstm_layers: int = 2
    # weight of an auxiliary CTC on a classifier over the 1D-conv features, before the BiLSTM
    # (the visual alignment constraint of VAC, Min et al. 2021); 0 = none. See `visual_logits`.
    visual_ctc: float = 0.0


@dataclass(frozen=True)
class NetConfig:
    role: str  # "teacher" | "student"
    variant: str  # "teacher" | "scale" | "recover" | "plain"
    input_size: int
    trunk: TrunkConfig
    head: HeadConfig

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        """The config that `to_dict` wrote; sizes out of `SIZE_LIMITS` raise ConfigError
        naming the field (a file's config is untrusted: refuse it before allocating)."""
        check_sizes(d)
        trunk = {k: tuple(v) if isinstance(v, list) else v for k, v in d["trunk"].items()}
        return cls(
            d["role"], d["variant"], d["input_size"], TrunkConfig(**trunk), HeadConfig(**d["head"])
        )


# The range of each size a config read from a file may hold: far above every preset (the
# paper's teacher takes 224 px, 512 channels), far below sizes whose weights would exhaust
# memory when the network is built.
SIZE_LIMITS = {
    "input_size": (8, 1024),
    "trunk.widths": (1, 4096),
    "trunk.blocks": (1, 64),
    "trunk.strides": (1, 8),
    "trunk.stem_width": (1, 4096),
    "trunk.stem_kernel": (1, 15),
    "trunk.stem_stride": (1, 8),
    "trunk.map_size": (1, 1024),
    "trunk.out_channels": (1, 4096),
    "head.conv_dim": (1, 4096),
    "head.lstm_hidden": (1, 4096),
    "head.lstm_layers": (1, 16),
}
OPTIONAL_SIZES = ("trunk.map_size", "trunk.out_channels")  # None: not used


def _field(d: dict, name: str):
    """`d[part][key]` of "part.key"; `...` when absent (the config's shape is checked when
    it is built)."""
    part, _, key = name.rpartition(".")
    section = d.get(part) if part else d
    return section.get(key, ...) if isinstance(section, dict) else ...


def check_sizes(d: dict) -> None:
    """Raise ConfigError on a size of `d` (a `to_dict` dict) that is not an integer in range,
    on stage lists of different lengths, or on a visual-CTC weight that is not finite >= 0."""
    for name, (low, high) in SIZE_LIMITS.items():
        value = _field(d, name)
        if value is ... or (value is None and name in OPTIONAL_SIZES):
            continue
        for v in value if isinstance(value, list | tuple) else [value]:
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise ConfigError(
                    f"net.{name} must be {'integers' if isinstance(value, list) else 'an integer'}"
                    f" between {low} and {high}, got {value!r}"
                )
    stages = [_field(d, f"trunk.{k}") for k in ("widths", "blocks", "strides")]
    lengths = {len(s) if isinstance(s, list | tuple) else -1 for s in stages if s is not ...}
    if len(lengths) > 1 or min(lengths, default=1) < 1:
        raise ConfigError(
            f"net.trunk widths, blocks and strides must be lists of one length, got {stages}"
        )
    w = _field(d, "head.visual_ctc")
    if w is not ... and (not isinstance(w, int | float) or not 0 <= w < math.inf):
        raise ConfigError(f"net.head.visual_ctc must be a finite number >= 0, got {w!r}")


@dataclass
class SLROutput:
    logits: torch.Tensor  # (B, T', V) unnormalised scores
    lengths: torch.Tensor  # (B,) valid T' per clip
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    # "frame_map": (N, C, h, w) packed valid frames; "frame_vec": (N, C); "temporal": (B, T', D);
    # "visual_logits": (B, T', V) in training when the head has `visual_ctc`


class FrameTrunk(nn.Module):
    """Per-frame 2D CNN on packed frames: (N, 3, H, W) -> (N, C, h, w)."""

    def __init__(self, cfg: TrunkConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.stem_kernel
        self.stem = nn.Sequential(
            nn.Conv2d(3, cfg.stem_width, k, cfg.stem_stride, k // 2, bias=False),
            nn.BatchNorm2d(cfg.stem_width),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(3, 2, 1) if cfg.maxpool else nn.Identity()
        blocks, cin = [], cfg.stem_width
        for width, n, stride in zip(cfg.widths, cfg.blocks, cfg.strides, strict=True):
            for j in range(n):
                blocks.append(ResBlockT(cin, width, stride if j == 0 else 1, cfg.tscm))
                cin = width
        self.blocks = nn.ModuleList(blocks)
        # a cheap way to reach the teacher's channel count: a 1x1 projection, not a wide stage
        self.project = (
            nn.Sequential(conv_bn(cin, cfg.out_channels, 1), nn.ReLU(inplace=True))
            if cfg.out_channels
            else None
        )

    channels_last = False  # set by `SLRNet.to_channels_last`

    def forward(self, x: torch.Tensor, nb: Neighbours) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.pool(self.stem(x))
        for block in self.blocks:
            x = block(x, nb)
        if self.cfg.map_size is not None and x.shape[-1] != self.cfg.map_size:
            x = F.adaptive_avg_pool2d(x, self.cfg.map_size)
        return x if self.project is None else self.project(x)


class TemporalHead(nn.Module):
    """1D temporal convolutions, a BiLSTM and a gloss classifier: (B, T, C) -> (B, T', V)."""

    def __init__(self, cin: int, cfg: HeadConfig, num_classes: int):
        super().__init__()
        self.conv = TemporalConv(cin, cfg.conv_dim, cfg.spec, cfg.same_padding)
        self.lstm = BiLSTM(cfg.conv_dim, cfg.lstm_hidden, cfg.lstm_layers)
        self.classifier = nn.Linear(2 * cfg.lstm_hidden, num_classes)
        # Training-time only: glosses read from local visual features, without the BiLSTM's
        # context, so that the frame trunk cannot lean on the sentence for fine detail.
        self.visual = nn.Linear(cfg.conv_dim, num_classes) if cfg.visual_ctc > 0 else None

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(logits, BiLSTM features, visual logits or None), all (B, T', .)."""
        conv = self.conv(x, lengths)
        out_lengths = self.conv.output_lengths(lengths)
        x = self.lstm(conv, out_lengths)
        visual = self.visual(conv) if self.visual is not None and self.training else None
        return self.classifier(x), x, visual


class SLRNet(nn.Module):
    """Frame trunk + temporal head. forward(video, lengths) -> SLROutput."""

    def __init__(self, cfg: NetConfig, num_classes: int):
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.trunk = FrameTrunk(cfg.trunk)
        self.head = TemporalHead(cfg.trunk.channels, cfg.head, num_classes)

    def output_lengths(self, video_lengths: torch.Tensor) -> torch.Tensor:
        return self.head.conv.output_lengths(video_lengths)

    def to_channels_last(self) -> SLRNet:
        """Lay the frame trunk's weights and activations out channels-last (NHWC): the same
        values, faster oneDNN kernels on a CPU. The state dict is saved contiguous."""
        self.trunk.to(memory_format=torch.channels_last)
        self.trunk.channels_last = True
        return self

    def forward_features(self, video: torch.Tensor, lengths: torch.Tensor) -> dict:
        b, t = video.shape[:2]
        valid = torch.arange(t, device=video.device)[None, :] < lengths[:, None]  # (B, T)
        frames = video[valid]  # (B, T, 3, H, W) -> (N, 3, H, W), valid frames only
        fmap = self.trunk(frames, Neighbours.from_lengths(lengths))  # (N, C, h, w)
        fvec = fmap.mean(dim=(2, 3))  # (N, C)
        seq = fvec.new_zeros((b, t, fvec.shape[1]))
        seq[valid] = fvec  # (N, C) -> (B, T, C), zeros past each length
        return {"frame_map": fmap, "frame_vec": fvec, "sequence": seq}

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput:
        feats = self.forward_features(video, lengths)
        logits, temporal, visual = self.head(feats.pop("sequence"), lengths)
        feats["temporal"] = temporal
        if visual is not None:
            feats["visual_logits"] = visual
        return SLROutput(logits, self.output_lengths(lengths), feats)
