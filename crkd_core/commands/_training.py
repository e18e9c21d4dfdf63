"""What `crkd train-teacher` and `crkd distill` share: arguments, data set-up, fit, final test."""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_weights, model_meta
from ..data.transforms import ViewSpec
from ..distill import CTCTask
from ..distributed import barrier, init_distributed, shutdown
from ..models.presets import PRESETS, Preset
from ..pipeline import DataConfig, check_ctc_lengths, load_split, make_loader, open_layout
from ..profile import count_params, gmacs_per_frame
from ..runs import RunDir
from ..trainer import TrainConfig, Trainer


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset root (PHOENIX-2014 layout)")
    p.add_argument("--out", required=True, type=Path, help="run folder to create")
    p.add_argument("--dataset", default=None, help="layout name; auto-detected when omitted")
    p.add_argument("--preset", default="cpu", choices=PRESETS.names())
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--batch-size", type=int, default=None, help="per process; default: preset's")
    p.add_argument("--lr", type=float, default=None, help="default: the preset's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--decoder", default="greedy", choices=["greedy", "beam"])
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"], help="CUDA only")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--nan-policy", default="stop", choices=["stop", "skip"])
    p.add_argument("--cache-dir", type=Path, default=None, help="decoded-frame cache")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--frame-cache",
        default="auto",
        choices=["auto", "disk", "none"],
        help="cache decoded frames on disk (auto: unless larger than "
        "$CRKD_CACHE_MAX_GB, 16) or decode every epoch (none)",
    )
    p.add_argument(
        "--allow-oov",
        action="store_true",
        help="score dev/test glosses missing from the vocabulary as errors",
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_config(args, preset: Preset) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs or preset.epochs,
        batch_size=args.batch_size or preset.batch_size,
        lr=args.lr or preset.lr,
        grad_accum=args.grad_accum,
        amp=args.amp,
        nan_policy=args.nan_policy,
        decoder=args.decoder,
        beam_width=args.beam_width,
        seed=args.seed,
    )


def fit_and_test(
    args,
    role: str,
    preset: Preset,
    task: CTCTask,
    vocab,
    spec: ViewSpec,
    extra_config: dict,
    extra_metrics: dict,
) -> dict | None:
    """Load the data, train `task`, evaluate its best checkpoint on test, write metrics.json."""
    env = init_distributed(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_cfg = DataConfig(
        args.data, args.dataset, args.cache_dir, args.allow_oov, args.num_workers, args.frame_cache
    )
    layout = open_layout(data_cfg)
    cfg = train_config(args, preset)
    model = task.model
    splits = {
        s: load_split(layout, data_cfg, s, vocab, spec, s == "train", args.seed, env.is_main)
        for s in ("train", "dev", "test")
    }
    check_ctc_lengths(splits["train"], model.output_lengths, 1 - spec.temporal_rescale)
    for s in ("dev", "test"):
        check_ctc_lengths(splits[s], model.output_lengths)
    config = {
        "role": role,
        "preset": preset.name,
        "data": str(args.data),
        "dataset": layout.name,
        "view": spec.to_dict(),
        "net": model.cfg.to_dict(),
        "train": asdict(cfg),
        "seed": args.seed,
        "loss": task.describe(),
        "world_size": env.world_size,
        "epochs": cfg.epochs,
        **extra_config,
    }
    run = RunDir(args.out)
    if env.is_main:
        run.start(config, resume=args.resume)
    meta = model_meta(model, preset.name, spec, vocab, role=role, dataset=layout.name)
    trainer = Trainer(task, cfg, run, env, meta, vocab)
    if args.resume:
        trainer.resume()
    loaders = {
        s: make_loader(ds, cfg.batch_size, s == "train", args.seed, env, args.num_workers)
        for s, ds in splits.items()
    }
    t0 = time.perf_counter()
    on_epoch = getattr(args, "on_epoch", None) or _print_epoch
    state = trainer.fit(loaders["train"], loaders["dev"], on_epoch=on_epoch)
    metrics = None
    if env.is_main:
        model.load_state_dict(load_weights(run.path / "checkpoint.safetensors"))
        test = trainer.evaluate(loaders["test"])
        metrics = {
            "role": role,
            "preset": preset.name,
            "input_size": model.cfg.input_size,
            "seed": args.seed,
            "split": "test",
            **test.to_dict(),
            "params": count_params(model),
            "gmacs_per_frame": gmacs_per_frame(model),
            "train_seconds": round(state.train_seconds, 2),
            "wall_seconds_this_process": round(time.perf_counter() - t0, 2),
            "world_size": env.world_size,
            "epochs": cfg.epochs,
            "best_epoch": state.best_epoch,
            "best_dev_wer": state.best_wer,
            "skipped_batches": state.skipped_batches,
            "loss": task.describe(),
            "dataset": layout.name,
            "n_train": len(splits["train"]),
            **extra_metrics,
        }
        run.finish(metrics)
        print(
            f"{role}: test WER {test.wer.wer:.2f}% (S {test.wer.sub} D {test.wer.dele} "
            f"I {test.wer.ins} N {test.wer.n_ref}), best dev WER {state.best_wer:.2f}% at "
            f"epoch {state.best_epoch}, {state.train_seconds:.0f}s training -> {run.path}"
        )
    barrier(env)  # the other ranks wait for rank 0's test evaluation before leaving
    shutdown(env)
    return metrics


def _print_epoch(row: dict) -> None:
    terms = " ".join(
        f"{k[6:]}={v:.3f}"
        for k, v in row.items()
        if k.startswith("train_") and k != "train_grad_norm"
    )
    print(
        f"epoch {row['epoch']}: {terms} dev_wer={row['dev_wer']:.2f}% "
        f"({row['epoch_seconds']:.1f}s)",
        flush=True,
    )
