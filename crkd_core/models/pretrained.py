"""Optional: ImageNet-pretrained ResNet-18 weights for the teacher's trunk, from a local file.

Off by default, and never downloaded: the user passes a file they have (for example
torchvision's `resnet18-f37072fd.pth`, or a safetensors export of it). A `.pt`/`.pth` file is
read with `weights_only=True`, so a file that carries code is refused instead of run.
The torchvision key layout (conv1, bn1, layerS.B.{conv1,bn1,conv2,bn2,downsample}) maps onto
our trunk (stem, blocks.i.{conv1,conv2,shortcut}); the classifier `fc` is dropped.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..tensor_files import read_state_dict
from .network import FrameTrunk


def torchvision_key(ours: str, blocks: tuple[int, ...]) -> str | None:
    """Our trunk's parameter name -> torchvision ResNet's, or None if it has no counterpart."""
    parts = ours.split(".")
    if parts[0] == "stem":
        return {"0": "conv1", "1": "bn1"}[parts[1]] + "." + parts[2]
    if parts[0] != "blocks":
        return None
    index, layer = int(parts[1]), 0
    while index >= blocks[layer]:
        index -= blocks[layer]
        layer += 1
    sub = {
        "conv1": ("conv1", "bn1"),
        "conv2": ("conv2", "bn2"),
        "shortcut": ("downsample.0", "downsample.1"),
    }[parts[2]]
    return f"layer{layer + 1}.{index}.{sub[int(parts[3])]}.{parts[4]}"


def load_resnet18_trunk(trunk: FrameTrunk, path: str | Path) -> int:
    """Copy ResNet-18 weights into `trunk`; returns the number of tensors loaded."""
    state = read_state_dict(path)
    own = trunk.state_dict()
    loaded = {}
    for name, tensor in own.items():
        key = torchvision_key(name, trunk.cfg.blocks)
        if key is None or key not in state:
            raise CheckpointError(path, f"no weight {key!r} for trunk parameter {name!r}")
        if state[key].shape != tensor.shape:
            raise CheckpointError(
                path,
                f"{key}: shape {tuple(state[key].shape)} does not fit "
                f"{name} {tuple(tensor.shape)} (is the preset 'paper'?)",
            )
        loaded[name] = state[key]
    trunk.load_state_dict(loaded)
    return len(loaded)
