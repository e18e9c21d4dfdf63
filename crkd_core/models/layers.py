"""TSCM, ResBlockT and the temporal head.

Frames travel through the 2D trunk *packed*: only the valid frames of a batch, (N, C, H, W)
with N = sum of clip lengths, so padding costs nothing and never leaks into BatchNorm.
TSCM needs each frame's temporal neighbours; `Neighbours` holds, for every packed frame, the
packed index of its previous and next frame, or N (a zero row) at a clip's ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Neighbours:
    prev: torch.Tensor  # (N,) int64, packed index of frame t-1, or N at a clip start
    next: torch.Tensor  # (N,) int64, packed index of frame t+1, or N at a clip end
    # Set when frames are packed clip after clip (`from_lengths`): frame t-1 is row i-1 and
    # t+1 is row i+1 wherever they exist, so TSCM can shift slices instead of gathering rows.
    # (N, 1, 1, 1) bool: the frame has a previous / next frame in its clip.
    has_prev: torch.Tensor | None = None
    has_next: torch.Tensor | None = None

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor) -> Neighbours:
        """Neighbour indices for clips of `lengths` frames packed one after another."""
        n = lengths.sum()
        idx = torch.arange(n, device=lengths.device)
        starts = torch.cumsum(lengths, 0) - lengths
        ends = starts + lengths - 1
        first = torch.zeros_like(idx, dtype=torch.bool).index_fill(0, starts, True)
        last = torch.zeros_like(idx, dtype=torch.bool).index_fill(0, ends, True)
        prev = torch.where(first, n, idx - 1)
        nxt = torch.where(last, n, idx + 1)
        return cls(prev, nxt, (~first).view(-1, 1, 1, 1), (~last).view(-1, 1, 1, 1))


class TSCM(nn.Module):
    """Temporal Superimposed Crossover Module (paper: arXiv 2211.03387): no parameters, no FLOPs.

    Channel c of frame t is taken from frame t - 1 + (c mod 3): channels 0, 3, 6... from t-1,
    1, 4, 7... from t itself, 2, 5, 8... from t+1, with zeros beyond a clip's ends.
    """

    def forward(self, x: torch.Tensor, nb: Neighbours) -> torch.Tensor:
        if nb.has_prev is not None and nb.has_next is not None:
            return self._shifted(x, nb.has_prev, nb.has_next)
        # any neighbour table (export, streaming): gather rows
        # (N, C, H, W) -> (N + 1, C, H, W): row N is the zero padding at clip ends
        ext = torch.cat([x, x.new_zeros((1, *x.shape[1:]))], 0)
        phase = (torch.arange(x.shape[1], device=x.device) % 3).view(1, -1, 1, 1)
        out = torch.where(phase == 0, ext[nb.prev], x)
        return torch.where(phase == 2, ext[nb.next], out)

    @staticmethod
    def _shifted(x: torch.Tensor, has_prev: torch.Tensor, has_next: torch.Tensor) -> torch.Tensor:
        """The same values for clips packed one after another, by shifting channel slices one
        row: 2-3x faster than gathering rows in training, whose backward scatters (measured on
        the frame maps of the `cpu` presets, benchmarks/train_speed.py)."""
        out = x.clone()
        zero = x.new_zeros(())
        out[1:, 0::3] = torch.where(has_prev[1:], x[:-1, 0::3], zero)
        out[:1, 0::3] = 0
        out[:-1, 2::3] = torch.where(has_next[:-1], x[1:, 2::3], zero)
        out[-1:, 2::3] = 0
        return out


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class ResBlockT(nn.Module):
    """A ResNet basic block whose first 3x3 convolution reads TSCM's temporally mixed channels."""

    def __init__(self, cin: int, cout: int, stride: int = 1, tscm: bool = True):
        super().__init__()
        self.tscm = TSCM() if tscm else None
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.conv2 = conv_bn(cout, cout, 3, 1)
        self.shortcut = conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x: torch.Tensor, nb: Neighbours) -> torch.Tensor:
        y = self.tscm(x, nb) if self.tscm is not None else x
        y = self.conv2(F.relu(self.conv1(y), inplace=True))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)), inplace=True)


def parse_temporal_spec(spec: str) -> list[tuple[str, int]]:
    """'K5-P2-K5-P2' -> [('K', 5), ('P', 2), ('K', 5), ('P', 2)]."""
    out = []
    for part in spec.split("-"):
        if len(part) < 2 or part[0] not in "KP" or not part[1:].isdigit():
            raise ValueError(f"bad temporal spec part {part!r} in {spec!r}")
        out.append((part[0], int(part[1:])))
    return out


class TemporalConv(nn.Module):
    """1D temporal convolutions and poolings, e.g. 'K5-P2-K5-P2' (the VAC-style head).

    With `same_padding=False` (the peers' default) a K5 drops 4 frames; with True it keeps T.
    """

    def __init__(self, cin: int, cout: int, spec: str = "K5-P2-K5-P2", same_padding: bool = False):
        super().__init__()
        self.spec = parse_temporal_spec(spec)
        self.same_padding = same_padding
        layers, c = [], cin
        for kind, size in self.spec:
            if kind == "K":
                pad = size // 2 if same_padding else 0
                layers.append(
                    nn.Sequential(
                        nn.Conv1d(c, cout, size, padding=pad, bias=False),
                        nn.BatchNorm1d(cout),
                        nn.ReLU(inplace=True),
                    )
                )
                c = cout
            else:
                layers.append(nn.MaxPool1d(size, ceil_mode=False))
        self.layers = nn.ModuleList(layers)

    def _step_lengths(self, lengths: torch.Tensor, kind: str, size: int) -> torch.Tensor:
        if kind == "K":
            return lengths if self.same_padding else lengths - (size - 1)
        return torch.div(lengths, size, rounding_mode="floor")

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for kind, size in self.spec:
            lengths = self._step_lengths(lengths, kind, size)
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (B, T, C) -> (B, C, T) for Conv1d
        for (kind, size), layer in zip(self.spec, self.layers, strict=True):
            x = layer(x)
            lengths = self._step_lengths(lengths, kind, size)
            if self.same_padding:
                # zero the steps past each length after every layer (a pooling window can
                # reach one step past an odd length), so the next convolution's padding is
                # the zero padding a clip gets when it is alone: no leak from the batch
                x = x * (torch.arange(x.shape[-1], device=x.device) < lengths[:, None])[:, None]
        return x.transpose(1, 2)


class BiLSTM(nn.Module):
    """A bidirectional LSTM over padded (B, T, C) sequences that respects each sequence's length."""

    def __init__(self, cin: int, hidden: int, layers: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(cin, hidden, layers, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast: CPU LSTM kernels in bf16 ran slower than in fp32
        # (benchmarks/train_speed.py, the bilstm phase), and the recurrence keeps its precision
        with torch.autocast(x.device.type, enabled=False):
            return self._run(x.to(self.lstm.weight_ih_l0.dtype), lengths)

    def _run(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 or bool((lengths == x.shape[1]).all()):
            return self.lstm(x)[0]  # no padding: the plain path (also what ONNX export traces)
        if x.device.type == "cpu" and x.dtype == torch.float32:
            return self._by_direction(x, lengths)
        return self._packed(x, lengths)

    def _packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Packed sequences: the padding never enters the recurrence (cuDNN's fast path)."""
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def _by_direction(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The packed result without packing: each layer runs its two directions on padded
        input, the backward one on every sequence reversed within its length, so padding comes
        after the valid steps in both. On a CPU this takes oneDNN's fused LSTM, which packed
        sequences do not (1.75x faster forward and backward at the `cpu` preset's sizes)."""
        t = torch.arange(x.shape[1], device=x.device)[None, :]
        valid = t < lengths[:, None]  # (B, T)
        # (B, T, C) gather index that reverses each sequence within its length; its own inverse
        rev = torch.where(valid, lengths[:, None] - 1 - t, t)[..., None]
        for layer in range(self.lstm.num_layers):
            forward = self._direction(x, layer, "")
            reverse = self._direction(x.gather(1, rev.expand_as(x)), layer, "_reverse")
            backward = reverse.gather(1, rev.expand_as(reverse))
            x = torch.cat([forward, backward], dim=-1)
        return x * valid[..., None]  # zeros past each length, as pad_packed_sequence gives

    def _direction(self, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One layer, one direction, over (B, T, C) from zero state."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        params = [getattr(self.lstm, f"{n}_l{layer}{suffix}") for n in names]
        h0 = x.new_zeros((1, x.shape[0], self.lstm.hidden_size))
        out, _, _ = torch.lstm(x, (h0, h0), params, True, 1, 0.0, self.training, False, True)
        return out
