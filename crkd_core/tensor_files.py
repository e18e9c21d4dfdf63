"""Reading files of tensors: safetensors, and legacy `.pt` state dicts without unpickling code.

The bottom of the library: `checkpoint` (our run checkpoints) and `models.pretrained` (a local
ImageNet state dict) both read through here, so neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .errors import CheckpointError


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file (truncated?): {exc}") from exc


def load_legacy_pt(path: Path) -> dict:
    """Read a legacy .pt state dict safely (weights_only=True: no code runs on load)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... here
        raise CheckpointError(
            path,
            f"refused or unreadable .pt file (only plain tensors are loaded, never code): {exc}",
        ) from exc


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat state dict of tensors from a `.safetensors` or a `.pt`/`.pth` file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_weights(path)
    state = load_legacy_pt(path)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(path, "expected a flat state dict of tensors")
    return state
