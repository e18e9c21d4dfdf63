"""Inference-time speed-ups for the PyTorch path, each kept only if a measurement shows it pays.

- `fold_conv_bn`: every Conv -> BatchNorm pair of our nets (trunk `conv_bn`, stem, temporal
  convolutions) becomes one convolution with a bias. Exact up to float rounding. KEPT: +2 to
  +10 % fps in eager PyTorch over all four nets (benchmarks/README.md).
- `to_channels_last`: NHWC weights, so the 2D convolutions run channels-last. NOT kept by
  default: +3 % to +19 % for the teachers, but -9 % to +3 % for LRINet, the deployment
  target, within this machine's noise.
- Threads: idle threads must *wait passively* on a shared machine. With torch's default
  spinning OpenMP threads, 2-thread eager inference ran 2x to 50x slower than with
  OMP_WAIT_POLICY=PASSIVE on the loaded 2-core machine (cpu-preset LRINet: 20 vs 1066 fps);
  onnxruntime's spinning cost 1.6-2x (runtime.py turns it off). One thread was as fast as two
  there. OMP_WAIT_POLICY is read when torch loads, so `crkd predict` and the benchmark set it
  before importing torch; `set_threads` sets the count.

`optimise_for_inference` applies what paid. onnxruntime needs none of this: the exporter
already folds BatchNorm and onnxruntime fuses Conv + ReLU (+ Add) itself.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONVS = (nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _fold_sequential(seq: nn.Sequential) -> int:
    """Fold each (Conv, BatchNorm) neighbour pair of `seq` in place; returns how many."""
    folded = 0
    for i in range(len(seq) - 1):
        conv, bn = seq[i], seq[i + 1]
        if isinstance(conv, _CONVS) and isinstance(bn, _NORMS):
            seq[i] = fuse_conv_bn_eval(conv, bn)
            seq[i + 1] = nn.Identity()
            folded += 1
    return folded


def fold_conv_bn(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with every Conv -> BatchNorm pair folded into the conv.

    Only pairs that sit next to each other in an `nn.Sequential` are folded, which covers every
    BatchNorm of SLRNet; the copy keeps the original's module names, so it still loads and
    saves the same as long as nobody calls `load_state_dict` on it.
    """
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            _fold_sequential(module)
    return model


def count_batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, _NORMS) for m in model.modules())


def to_channels_last(model: nn.Module) -> nn.Module:
    """`model` with its 4D weights in channels-last (NHWC) memory format, in place."""
    return model.to(memory_format=torch.channels_last)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None: leave them); returns the count in use."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def optimise_for_inference(model: nn.Module, channels_last: bool = False) -> nn.Module:
    """A copy of `model` with what paid for eager PyTorch here: conv+BN folding.

    Args:
        model: a teacher or LRINet.
        channels_last: also switch to NHWC (paid for the teachers, not for LRINet).
    """
    model = fold_conv_bn(model)
    return to_channels_last(model) if channels_last else model
