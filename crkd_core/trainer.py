"""The training loop: fit = for each epoch, train_one_epoch, evaluate on dev, checkpoint.

It trains any task (a module whose forward(batch) returns named loss terms and 'total'), and
knows nothing of distillation. Each epoch ends with an atomic checkpoint of the last state
(for `--resume`) and of the best model by dev WER (what is finally evaluated).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .checkpoint import (
    check_finite,
    load_extra,
    load_weights,
    optimizer_tensors,
    restore_optimizer,
    save_model,
    save_weights,
    state_misfit,
)
from .distributed import DistEnv, all_reduce_mean, barrier
from .errors import CheckpointError, NumericalError
from .evaluation import EvalResult, evaluate
from .faults import maybe_fail
from .io import atomic_write_json, atomic_write_text
from .precision import autocast_dtype


@dataclass
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    schedule: str = "cosine"  # cosine | constant
    grad_accum: int = 1  # micro-batches per optimizer step
    amp: str = "none"  # none | bf16 | fp16 (CUDA only): resolved (`precision.resolve_amp`)
    channels_last: bool = False  # frame trunks channels-last (`precision`)
    nan_policy: str = "stop"  # stop | skip
    decoder: str = "greedy"
    beam_width: int = 10
    seed: int = 0
    # Stop once `patience` epochs in a row bring no new best dev WER that is at least
    # `min_delta` points below the best so far (None: run all `epochs`), but never before
    # `min_epochs` epochs: a model can sit on a plateau before it breaks through.
    patience: int | None = None
    min_delta: float = 0.5
    min_epochs: int = 0
    # the temporal head's learning rate over the rest's (a head initialised from a trained
    # teacher's keeps what it knows while the frame trunk catches up: `crkd distill --head-lr`)
    head_lr_scale: float = 1.0


def param_groups(task: torch.nn.Module, params: list, head_lr_scale: float) -> list[dict]:
    """The optimizer's groups: the model's temporal head at `head_lr_scale` times the
    learning rate when that is not 1, everything else at it."""
    model = getattr(task, "model", task)
    head = getattr(model, "head", None)
    ids = {id(p) for p in head.parameters()} if head is not None and head_lr_scale != 1 else set()
    groups = [{"params": [p for p in params if id(p) not in ids], "lr_scale": 1.0}]
    if ids:
        groups.append({"params": [p for p in params if id(p) in ids], "lr_scale": head_lr_scale})
    return groups


def plateau_epoch(dev_wers: list[float], cfg: TrainConfig) -> int | None:
    """The epoch after which `cfg`'s plateau rule stops a run with these dev WERs (one per
    epoch, from epoch 1), or None if it runs them all: `cfg.patience` epochs in a row without
    a dev WER `cfg.min_delta` points below the best, once `cfg.min_epochs` have run."""
    if cfg.patience is None:
        return None
    best, since = math.inf, 0
    for epoch, wer in enumerate(dev_wers, start=1):
        if wer <= best - cfg.min_delta:
            best, since = wer, 0
        else:
            since += 1
        if since >= cfg.patience and epoch >= cfg.min_epochs:
            return epoch
    return None


def bad_clips(batch) -> list[str]:
    """The ids of the batch's clips whose pixels (either view) hold NaN or Inf."""
    ok = torch.ones(len(batch.ids), dtype=torch.bool, device=batch.video.device)
    for video in (batch.video, batch.student_video):
        if video is not None:  # (B, T, C, H, W) -> (B,)
            ok &= video.flatten(1).isfinite().all(1)
    return [i for i, good in zip(batch.ids, ok.tolist(), strict=True) if not good]


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_wer: float = math.inf
    best_epoch: int = -1
    train_seconds: float = 0.0
    skipped_batches: int = 0
    optimizer_steps: int = 0
    stopped_early: bool = False
    history: list | None = None


class Trainer:
    def __init__(
        self,
        task: torch.nn.Module,
        cfg: TrainConfig,
        folder: Path,
        env: DistEnv,
        meta: dict,
        vocab,
        progress: bool = True,
    ):
        self.task = task.to(env.device)
        if cfg.channels_last:
            task.to_channels_last()
        self.cfg = cfg
        self.folder = Path(folder)  # where checkpoints and log.jsonl go
        self.env = env
        self.meta = meta  # checkpoint meta (preset, view, vocab, ...)
        self.vocab = vocab
        self.progress = progress and env.is_main and not os.environ.get("CRKD_NO_PROGRESS")
        self.params = [p for p in task.parameters() if p.requires_grad]  # clipped every step
        self.optimizer = torch.optim.Adam(
            param_groups(task, self.params, cfg.head_lr_scale),
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
        )
        self.wrapped = DistributedDataParallel(self.task) if env.enabled else self.task
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
        self.state = TrainState(history=[])
        self.batch_index = 0

    # -- schedule and one step ------------------------------------------------------------
    def lr_at(self, epoch: int) -> float:
        if self.cfg.schedule == "constant":
            return self.cfg.lr
        return self.cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / max(1, self.cfg.epochs)))

    def autocast(self):
        dtype = autocast_dtype(self.cfg.amp)
        return torch.autocast(self.env.device.type, dtype=dtype, enabled=dtype is not None)

    def _check_finite(self, losses: dict[str, torch.Tensor], batch) -> bool:
        finite = torch.isfinite(losses["total"].detach()).float()
        if self.env.enabled:  # every rank must skip together, or the all-reduce would hang
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        if finite.item():
            return True
        if self.cfg.nan_policy == "skip":
            self.state.skipped_batches += 1
            return False
        raise NumericalError(self._non_finite(losses, batch))

    def _non_finite(self, losses: dict[str, torch.Tensor], batch) -> str:
        """What went non-finite, where, and the likely cause: the input clips or the training."""
        terms = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
        where = f"epoch {self.state.epoch + 1}, batch {self.batch_index}"
        bad = bad_clips(batch)
        if bad:
            cause = f"clips {bad[:4]} hold NaN or Inf pixels"
        else:
            hot = ", or raise --temperature" if "kd_logit" in losses else ""  # T^2*KL(T)
            cause = f"the clips are finite, so training diverged: lower --lr ({self.cfg.lr:g}){hot}"
        loss = f" of {self.task.describe()}" if hasattr(self.task, "describe") else ""
        return f"non-finite loss ({terms}) at {where}{loss}: {cause}"

    def _step(self, micro: list) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        for i, batch in enumerate(micro):
            batch = batch.to(self.env.device)
            # gradients are all-reduced on the last micro-batch only
            defer = self.env.enabled and i < len(micro) - 1
            with self.wrapped.no_sync() if defer else contextlib.nullcontext():
                with self.autocast():
                    losses = self.wrapped(batch)
                if not self._check_finite(losses, batch):
                    self.optimizer.zero_grad(set_to_none=True)
                    return {}
                self.scaler.scale(losses["total"] / len(micro)).backward()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v.item() / len(micro)
        self.scaler.unscale_(self.optimizer)
        sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return sums

    # -- epochs ---------------------------------------------------------------------------
    def train_one_epoch(self, loader, epoch: int) -> dict[str, float]:
        self.task.train()
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr_at(epoch) * g.get("lr_scale", 1.0)  # not in older states
        loader.batch_sampler.set_epoch(epoch)
        loader.dataset.set_epoch(epoch)
        totals: dict[str, float] = {}
        steps, micro = 0, []
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
            disable=not self.progress,
            leave=False,
            mininterval=2.0,
        )
        for i, batch in enumerate(bar):
            self.batch_index = i + 1  # for messages
            micro.append(batch)
            # the epoch's last micro-batches make a shorter step rather than being dropped
            if len(micro) < self.cfg.grad_accum and i + 1 < len(loader):
                continue
            logs, micro = self._step(micro), []
            maybe_fail("train_step")
            if logs:
                steps += 1
                for k, v in logs.items():
                    totals[k] = totals.get(k, 0.0) + v
                bar.set_postfix(loss=f"{logs['total']:.3f}")
        self.state.optimizer_steps += steps
        means = {f"train_{k}": v / max(1, steps) for k, v in totals.items()}
        return all_reduce_mean(means, self.env)

    def evaluate(self, loader) -> EvalResult:
        self.task.eval()
        return evaluate(
            predict=self.task.predict,
            loader=loader,
            vocab=self.vocab,
            device=self.env.device,
            decoder=self.cfg.decoder,
            beam_width=self.cfg.beam_width,
        )

    def fit(
        self, train_loader, dev_loader, on_epoch: Callable[[dict], None] | None = None
    ) -> TrainState:
        start_epoch = self.state.epoch
        for epoch in range(start_epoch, self.cfg.epochs):
            if self.plateaued():
                self.state.stopped_early = True
                break
            t0 = time.perf_counter()
            logs = self.train_one_epoch(train_loader, epoch)
            seconds = time.perf_counter() - t0
            row = {
                "epoch": epoch + 1,
                "lr": self.lr_at(epoch),
                **logs,
                "epoch_seconds": round(seconds, 2),
            }
            if self.env.is_main:
                dev = self.evaluate(dev_loader)
                row.update(
                    {
                        "dev_wer": dev.wer.wer,
                        "dev_sub": dev.wer.sub,
                        "dev_del": dev.wer.dele,
                        "dev_ins": dev.wer.ins,
                    }
                )
            if self.env.enabled:  # every rank needs rank 0's dev WER to stop at the same epoch
                wer = torch.tensor([row.get("dev_wer", 0.0)], device=self.env.device)
                torch.distributed.broadcast(wer, src=0)
                row.setdefault("dev_wer", float(wer))
            self.state.train_seconds += seconds
            self.state.epoch = epoch + 1
            self.state.history.append(row)
            if self.env.is_main:
                self.save_epoch(row)
                if on_epoch:
                    on_epoch(row)
            barrier(self.env)
        return self.state

    def plateaued(self) -> bool:
        """Whether dev WER has stopped improving (see `TrainConfig.patience`); the same answer
        on every rank, since each rank keeps the same history of rank 0's dev WERs."""
        if self.cfg.patience is None or not self.state.history:
            return False
        wers = [row.get("dev_wer", math.inf) for row in self.state.history]
        return plateau_epoch(wers, self.cfg) is not None

    # -- checkpoints ----------------------------------------------------------------------
    def save_epoch(self, row: dict) -> None:
        """Save the epoch's checkpoints; a write that fails (a full disk) says what is kept."""
        try:
            self._save_epoch(row)
        except OSError as exc:
            last = self.folder / "last.safetensors"  # whole or absent: written atomically
            kept = load_extra(last)["train_state"]["epoch"] if last.is_file() else 0
            state = f"keeps the state of epoch {kept}" if kept else "has no finished epoch yet"
            fix = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
            raise CheckpointError(
                exc.filename or self.folder,
                f"{exc.strerror or exc}; the run is unfinished (no metrics.json) and {state}: "
                f"{fix}, then continue it with --resume",
            ) from exc

    def _save_epoch(self, row: dict) -> None:
        model = self.task.model
        if row["dev_wer"] < self.state.best_wer:
            self.state.best_wer, self.state.best_epoch = row["dev_wer"], row["epoch"]
            save_model(
                self.folder,
                model,
                {**self.meta, "epoch": row["epoch"], "dev_wer": row["dev_wer"]},
            )
        tensors, rest = optimizer_tensors(self.optimizer)
        tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
        tensors["rng.torch"] = torch.get_rng_state()
        # One file holds weights, optimizer and train state (in its metadata), so a kill at
        # any point leaves either the previous epoch's state or this one's, never a mixture.
        state = {
            "train_state": asdict(self.state),
            "optimizer": rest,
            "train_config": asdict(self.cfg),
        }
        save_weights(self.folder / "last.safetensors", tensors, extra=state)
        atomic_write_json(self.folder / "last.json", {**self.meta, **state})  # for people
        log = "".join(json.dumps(row) + "\n" for row in self.state.history)
        atomic_write_text(self.folder / "log.jsonl", log)

    def resume(self) -> bool:
        """Load the last completed epoch's state if the run folder has one; True if it did."""
        path = self.folder / "last.safetensors"
        if not path.is_file():
            return False
        tensors, state = load_weights(path), load_extra(path)
        model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        if misfit := state_misfit(self.task.model.state_dict(), model):
            raise CheckpointError(path, f"the saved model does not fit this run's: {misfit}")
        check_finite(tensors, path)  # weights and optimizer moments
        train_state = resumed_state(state, path)
        try:
            restore_optimizer(self.optimizer, tensors, state["optimizer"])
            torch.set_rng_state(tensors["rng.torch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(path, f"the saved optimizer state is unusable: {exc!r}") from exc
        self.task.model.load_state_dict(model)
        self.state = train_state
        return True


def resumed_state(extra: dict, path: Path) -> TrainState:
    """The `TrainState` saved in `last.safetensors`, refused unless every field is sound."""
    saved = extra.get("train_state") if isinstance(extra, dict) else None
    if not isinstance(saved, dict) or set(saved) - {f.name for f in fields(TrainState)}:
        raise CheckpointError(path, "its train state is missing or has unknown keys (damaged?)")
    state = TrainState(**{"optimizer_steps": 0, "stopped_early": False, **saved})
    counts = (state.epoch, state.skipped_batches, state.optimizer_steps)
    history = state.history if isinstance(state.history, list) else None
    sound = (
        all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts)
        and isinstance(state.best_epoch, int)
        and -1 <= state.best_epoch <= state.epoch
        and isinstance(state.train_seconds, (int, float))
        and math.isfinite(state.train_seconds)
        and state.train_seconds >= 0
        and isinstance(state.best_wer, (int, float))
        and (state.best_wer >= 0 or state.best_epoch == -1)
        and history is not None
        and len(history) == state.epoch
        and all(isinstance(row, dict) for row in history)
    )
    if not sound:
        raise CheckpointError(
            path,
            f"its train state is inconsistent (epoch {state.epoch!r}, best epoch "
            f"{state.best_epoch!r}, {len(history or [])} logged epochs): damaged or edited",
        )
    return state
