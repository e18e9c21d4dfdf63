"""Checkpoints: safetensors weights plus a JSON meta file. Loading never unpickles.

A checkpoint records everything needed to rebuild and use the model without the code that
trained it: preset, network config, view spec (input size, normalisation), vocabulary.
Training state (optimizer moments, epoch, RNG) for `--resume` is stored the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .data.transforms import ViewSpec
from .data.vocab import Vocab
from .errors import CheckpointError
from .io import atomic_write, atomic_write_json
from .models.network import NetConfig, SLRNet

FORMAT = "crkd-checkpoint/1"


def save_weights(path: Path, tensors: dict[str, torch.Tensor], extra: dict | None = None) -> None:
    """Write tensors, with `extra` (JSON) in the file's own metadata, in one atomic rename."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "extra": json.dumps(extra or {})}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def load_extra(path: Path) -> dict:
    """The JSON stored with `save_weights(..., extra=...)`."""
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
        return json.loads(meta.get("extra", "{}"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file (truncated?): {exc}") from exc


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file (truncated?): {exc}") from exc


def load_meta(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(path, "checkpoint meta file is missing")
    try:
        meta = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"cannot read checkpoint meta: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, f"not a {FORMAT} meta file")
    return meta


def model_meta(model: SLRNet, preset: str, spec: ViewSpec, vocab: Vocab, **extra) -> dict:
    return {
        "format": FORMAT,
        "preset": preset,
        "net": model.cfg.to_dict(),
        "input_size": model.cfg.input_size,
        "view": spec.to_dict(),
        "vocab": vocab.to_json(),
        "num_classes": model.num_classes,
        **extra,
    }


def save_model(run: Path, model: SLRNet, meta: dict, name: str = "checkpoint") -> None:
    save_weights(run / f"{name}.safetensors", model.state_dict())
    atomic_write_json(run / f"{name}.json", meta)


def load_model(
    run: Path, name: str = "checkpoint", map_location: str = "cpu"
) -> tuple[SLRNet, dict]:
    """Rebuild a model from a run folder: (model in eval mode, meta)."""
    run = Path(run)
    meta = load_meta(run / f"{name}.json")
    try:
        cfg = NetConfig.from_dict(meta["net"])
        model = SLRNet(cfg, int(meta["num_classes"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            run / f"{name}.json", f"meta does not describe a network: {exc}"
        ) from exc
    state = load_weights(run / f"{name}.safetensors")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            run / f"{name}.safetensors", f"weights do not fit the network in the meta: {exc}"
        ) from exc
    return model.to(map_location).eval(), meta


def meta_vocab(meta: dict, source: Path) -> Vocab:
    try:
        return Vocab.from_json(meta["vocab"], str(source))
    except KeyError as exc:
        raise CheckpointError(source, "checkpoint has no vocabulary") from exc


def meta_view(meta: dict) -> ViewSpec:
    return ViewSpec(**meta["view"])


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], rest: dict
) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, k = key.split(".", 2)
            state.setdefault(int(pid), {})[k] = v
    for key, v in rest["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def load_legacy_pt(path: Path) -> dict:
    """Read a legacy .pt state dict safely (weights_only=True: no code runs on load)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... here
        raise CheckpointError(
            path,
            f"refused or unreadable .pt file (only plain tensors are loaded, never code): {exc}",
        ) from exc
