"""Checkpoints: safetensors weights plus a JSON meta file. Loading never unpickles.

A checkpoint records everything needed to rebuild and use the model without the code that
trained it: preset, network config, view spec (input size, normalisation), vocabulary.
Training state (optimizer moments, epoch, RNG) for `--resume` is stored the same way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .data.transforms import ViewSpec
from .data.vocab import Vocab
from .errors import CheckpointError, ConfigError, VocabError
from .io import atomic_write, atomic_write_json
from .models.network import NetConfig, SLRNet
from .tensor_files import load_legacy_pt as load_legacy_pt  # re-exported
from .tensor_files import load_weights

FORMAT = "crkd-checkpoint/1"


def save_weights(path: Path, tensors: dict[str, torch.Tensor], extra: dict | None = None) -> None:
    """Write tensors, with `extra` (JSON) in the file's own metadata, in one atomic rename."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "extra": json.dumps(extra or {})}
    # Serialised here and written by Python, so that a full disk is an OSError naming the file
    # (safetensors' own writer reports it as a SafetensorError that names none).
    data = save(tensors, metadata=metadata)
    atomic_write(path, lambda p: p.write_bytes(data))


def load_extra(path: Path) -> dict:
    """The JSON stored with `save_weights(..., extra=...)`."""
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
        return json.loads(meta.get("extra", "{}"))
    except (SafetensorError, OSError, ValueError) as exc:
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


# key -> the type its value must have; ints exclude bool (json `true` is not a size).
META_TYPES = {
    "preset": str,
    "net": dict,
    "input_size": int,
    "view": dict,
    "vocab": dict,
    "num_classes": int,
}
ROLES = ("teacher", "student")


def check_meta(meta: dict, path: Path) -> None:
    """Refuse a meta with a missing key, a value of the wrong type or an unusable vocabulary."""
    for key, kind in META_TYPES.items():
        if key not in meta:
            raise CheckpointError(path, f"checkpoint meta has no {key!r} key (damaged or edited?)")
        value = meta[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(
                path, f"checkpoint meta {key!r} is {type(value).__name__}, expected {kind.__name__}"
            )
    role = meta.get("role", meta["net"].get("role"))
    if role not in ROLES or meta["net"].get("role", role) != role:
        raise CheckpointError(
            path,
            f"checkpoint meta role {role!r} (net: {meta['net'].get('role')!r}) is not "
            f"one of {', '.join(ROLES)}",
        )
    check_text_and_numbers(meta, path)
    vocab = meta_vocab(meta, path)
    if len(vocab) != meta["num_classes"]:
        raise CheckpointError(
            path,
            f"the vocabulary has {len(vocab)} tokens but the classifier has "
            f"{meta['num_classes']} classes: the vocabulary does not belong to these weights",
        )
    meta_view(meta, path)


def check_text_and_numbers(meta: dict, path: Path) -> None:
    """Refuse meta text with control characters, and NaN, Inf or negative view numbers."""
    for key in ("preset", "dataset", "role"):
        value = meta.get(key, "")
        if not isinstance(value, str) or not value.isprintable():
            raise CheckpointError(path, f"checkpoint meta {key!r} is not plain text: {value!r}")
    for key, value in meta["view"].items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and not (math.isfinite(value) and value >= 0):
            raise CheckpointError(path, f"checkpoint meta view.{key} is {value!r}, not >= 0")


def check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights that hold NaN or Inf: such a model can only decode garbage."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(
                path,
                f"tensor {key!r} holds {bad} NaN or Inf values of {tensor.numel()}: the "
                "model is broken (a diverged or damaged training); retrain or use another run",
            )


def load_model(
    run: Path, name: str = "checkpoint", map_location: str = "cpu", expect_role: str | None = None
) -> tuple[SLRNet, dict]:
    """Rebuild a model from a run folder: (model in eval mode, meta).

    Args:
        run: the run folder with `<name>.json` and `<name>.safetensors`.
        name: the checkpoint's file stem.
        map_location: the device to move the model to.
        expect_role: "teacher" or "student" to refuse a run of the other role (e.g. a student
            run given as `--teacher`); None accepts either.

    Raises:
        CheckpointError: naming the file, for a missing, damaged or inconsistent meta, weights
            that do not fit it or hold NaN/Inf, or a run of the wrong role.
    """
    run = Path(run)
    meta_path = run / f"{name}.json"
    meta = load_meta(meta_path)
    check_meta(meta, meta_path)
    if expect_role is not None and meta["net"]["role"] != expect_role:
        raise CheckpointError(
            meta_path, f"this is a {meta['net']['role']} run, but a {expect_role} run is needed"
        )
    try:
        cfg = NetConfig.from_dict(meta["net"])
        if meta["input_size"] != cfg.input_size:
            raise ConfigError(
                f"input_size {meta['input_size']} is not net.input_size {cfg.input_size}"
            )
        model = SLRNet(cfg, meta["num_classes"])
    except ConfigError as exc:  # a size out of range: refused before allocating
        raise CheckpointError(meta_path, f"checkpoint meta: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(meta_path, f"meta does not describe a network: {exc!r}") from exc
    weights = run / f"{name}.safetensors"
    state = load_weights(weights)
    check_finite(state, weights)
    misfit = state_misfit(model.state_dict(), state)
    if misfit:
        raise CheckpointError(weights, f"weights do not fit the network in the meta: {misfit}")
    model.load_state_dict(state)
    return model.to(map_location).eval(), meta


def state_misfit(want: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> str:
    """One line saying how `got` differs from the state dict `want`, or '' when it fits."""
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    shapes = [k for k in want if k in got and want[k].shape != got[k].shape]
    # load_state_dict would cast an int32 weight to float without a word: refuse it instead
    dtypes = [k for k in want if k in got and want[k].dtype != got[k].dtype]
    parts = []
    if dtypes:
        k = dtypes[0]
        parts.append(
            f"{len(dtypes)} tensors have another dtype (first {k!r}: "
            f"{str(got[k].dtype).removeprefix('torch.')} in the file, "
            f"{str(want[k].dtype).removeprefix('torch.')} in the network)"
        )
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} tensors differ in shape (first {k!r}: {list(got[k].shape)} in the "
            f"file, {list(want[k].shape)} in the network)"
        )
    if missing:
        parts.append(f"{len(missing)} tensors missing (first {missing[0]!r})")
    if extra:
        parts.append(f"{len(extra)} unexpected tensors (first {extra[0]!r})")
    return "; ".join(parts)


def meta_vocab(meta: dict, source: Path) -> Vocab:
    if "vocab" not in meta:
        raise CheckpointError(source, "checkpoint has no vocabulary")
    try:
        return Vocab.from_json(meta["vocab"], str(source))
    except VocabError as exc:
        raise CheckpointError(source, f"checkpoint vocabulary is unusable: {exc.cause}") from exc


def meta_view(meta: dict, source: Path | str = "checkpoint.json") -> ViewSpec:
    try:
        return ViewSpec(**meta["view"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(source, f"checkpoint view spec is unusable: {exc}") from exc


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
