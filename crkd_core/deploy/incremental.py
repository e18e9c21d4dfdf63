"""Incremental trunk: every frame passes LRINet's 2D trunk exactly once, with TSCM state.

TSCM mixes each frame with frames t-1 and t+1 in every ResBlockT, so block i's output for
frame t needs block i's *input* at t+1. Each TSCM block therefore keeps a state: its last two
input frames (t-1 and t). When a chunk of k new frames reaches the block, the block computes
its output for the k frames that now have a next neighbour, one frame behind its input. With L
TSCM blocks, a frame's trunk output is final when frame t+L has arrived (the delay, L frames).

`TrunkStep` is that computation as one module, with the states as explicit inputs and
outputs, so that the same graph runs in PyTorch and, exported, in onnxruntime:

    step(frames (k, 3, S, S), t0 (1,) int64, t_end (1,) int64, *states)
      -> (features (k, C), *new_states)     states[i]: (2, C_i, H_i, W_i), zeros at the start

`t0` is the absolute index of the chunk's first frame, and the chunk's features belong to the
frames t0 - L ... t0 - L + k - 1. Rows at negative indices (the start of the stream) or at
indices >= `t_end` are zeroed after every block: that is TSCM's zero padding at a clip's ends,
so the first and the last L frames get exactly the offline features. While the stream is open
`t_end` is "never" (OPEN); to end it, L filler frames are pushed with `t_end` = frames seen.
BatchNorm is in eval mode, so nothing else in the trunk mixes frames (the tests check parity
with `SLRNet.forward_features` on whole clips).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.layers import Neighbours, ResBlockT
from ..models.network import FrameTrunk

OPEN = 2**62  # t_end while the stream is open: no frame index reaches it


def _valid(idx: torch.Tensor, t_end: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(k,) absolute frame indices -> (k, 1, 1, 1) mask: 1 inside [0, t_end), else 0."""
    keep = (idx >= 0) & (idx < t_end)
    return keep.to(like.dtype).view(-1, 1, 1, 1)


def _mixed_block(block: ResBlockT, prev, cur, nxt) -> torch.Tensor:
    """`ResBlockT.forward` for frames whose neighbours are given explicitly."""
    phase = (torch.arange(cur.shape[1]) % 3).view(1, -1, 1, 1)
    y = torch.where(phase == 0, prev, torch.where(phase == 2, nxt, cur))  # TSCM
    y = block.conv2(F.relu(block.conv1(y)))
    return F.relu(y + (cur if block.shortcut is None else block.shortcut(cur)))


class TrunkStep(nn.Module):
    """One streaming step of a `FrameTrunk` (see the module docstring for the contract)."""

    def __init__(self, trunk: FrameTrunk):
        super().__init__()
        self.trunk = trunk.eval()

    @property
    def delay(self) -> int:
        """L: frames between a frame's arrival and its final trunk output."""
        return sum(b.tscm is not None for b in self.trunk.blocks)

    def forward(self, frames, t0, t_end, *states) -> tuple[torch.Tensor, ...]:
        tr = self.trunk
        x = tr.pool(tr.stem(frames))
        idx = t0 + torch.arange(frames.shape[0])  # absolute index of each row of x
        x = x * _valid(idx, t_end, x)
        new_states, i = [], 0
        for block in tr.blocks:
            if block.tscm is None:  # no temporal mixing: no delay, no state
                x = block(x, None)
                continue
            ext = torch.cat([states[i], x], 0)  # frames idx0-2 ... idx_last
            new_states.append(ext[-2:])
            x = _mixed_block(block, ext[:-2], ext[1:-1], ext[2:])
            idx, i = idx - 1, i + 1  # the block's output lags its input by one frame
            x = x * _valid(idx, t_end, x)
        if tr.cfg.map_size is not None and x.shape[-1] != tr.cfg.map_size:
            x = F.adaptive_avg_pool2d(x, tr.cfg.map_size)
        if tr.project is not None:
            x = tr.project(x)
        return (x.mean(dim=(2, 3)), *new_states)


def state_shapes(trunk: FrameTrunk, input_size: int) -> list[tuple[int, ...]]:
    """The (2, C, H, W) state of each TSCM block, from one zero frame's pass."""
    nb = Neighbours(prev=torch.tensor([1]), next=torch.tensor([1]))
    shapes = []
    with torch.inference_mode():
        x = trunk.pool(trunk.stem(torch.zeros(1, 3, input_size, input_size)))
        for block in trunk.blocks:
            if block.tscm is not None:
                shapes.append((2, *x.shape[1:]))
            x = block(x, nb)
    return shapes


class TorchTrunkEngine:
    """`TrunkStep` in eager PyTorch, under inference mode."""

    def __init__(self, trunk: FrameTrunk, input_size: int):
        self.step = TrunkStep(trunk)
        self.delay, self.input_size = self.step.delay, input_size
        self.shapes = state_shapes(trunk, input_size)

    def zero_states(self) -> list[torch.Tensor]:
        return [torch.zeros(s) for s in self.shapes]

    def __call__(self, frames: torch.Tensor, t0: int, t_end: int, states: list):
        with torch.inference_mode():
            out = self.step(frames, torch.tensor([t0]), torch.tensor([t_end]), *states)
        return out[0], list(out[1:])


class IncrementalTrunk:
    """Drives a trunk engine over a stream: frames in, final frame features out, in order."""

    def __init__(self, engine):
        self.engine = engine
        self.states = engine.zero_states()
        self.pushed = 0  # frames given to the trunk (their features are final up to - delay)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """(k, 3, S, S) new frames -> (m, C) features of the frames that became final."""
        feats, self.states = self.engine(frames, self.pushed, OPEN, self.states)
        self.pushed += frames.shape[0]
        return self._keep(feats, self.pushed)

    def close(self) -> torch.Tensor:
        """End of stream: the features of the last `delay` frames."""
        n = self.engine.delay
        if n == 0 or self.pushed == 0:
            return torch.zeros(0, 0)
        s = self.engine.input_size
        filler = torch.zeros(n, 3, s, s)  # zeroed inside the step (index >= t_end)
        feats, self.states = self.engine(filler, self.pushed, self.pushed, self.states)
        return self._keep(feats, self.pushed + n)

    def _keep(self, feats: torch.Tensor, newest: int) -> torch.Tensor:
        """Drop the rows of frames before the stream's start (and past its end)."""
        first = newest - feats.shape[0] - self.engine.delay  # index of feats[0]
        lo, hi = max(0, -first), max(0, min(feats.shape[0], self.pushed - first))
        return feats[lo:hi]


def trunk_features(engine, clip: torch.Tensor, chunk: int = 1) -> torch.Tensor:
    """A whole clip (T, 3, S, S) through the incremental trunk -> (T, C) frame features."""
    trunk = IncrementalTrunk(engine)
    parts = [trunk.push(clip[i : i + chunk]) for i in range(0, clip.shape[0], chunk)]
    parts.append(trunk.close())
    return torch.cat([p for p in parts if p.numel()], 0)


class TorchHeadEngine:
    """The temporal head and classifier on one window of frame features, in eager PyTorch."""

    def __init__(self, model):
        self.head = model.head.eval()

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """(T, C) frame features -> (T', V) logits."""
        with torch.inference_mode():
            return self.head(features[None], torch.tensor([features.shape[0]]))[0][0]
