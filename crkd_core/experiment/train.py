"""Training runs as library functions: a config in, a finished run folder and its record out.

    record = train_teacher(TeacherRunConfig(data="data/sw", out="runs/teacher", epochs=3))
    record = distill(StudentRunConfig(data="data/sw", teacher="runs/teacher", out="runs/crkd"))

Both run the same named steps: build the task (`teacher_job` / `student_job`), `load_splits`,
`start_folder`, `Trainer.fit`, then `test_best` on the test split and `RunRecord.write`. They run
under torchrun too; only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_model, load_weights, meta_view, meta_vocab, model_meta
from ..cost import count_params, gmacs_per_frame
from ..data.corpus import DatasetLayout
from ..data.dataset import SLRDataset
from ..data.transforms import ViewSpec
from ..data.vocab import Vocab
from ..distributed import DistEnv, barrier, init_distributed, shutdown
from ..errors import CheckpointError, ConfigError, FileFormatError, NumericalError
from ..losses.registry import kd_settings, recorded_terms
from ..machine import peak_rss_mb
from ..models.presets import Preset, build_student, build_teacher, init_head_from
from ..models.pretrained import load_resnet18_trunk
from ..options import MAX_SEED
from ..pipeline import build_vocab, check_ctc_lengths, load_split, make_loader, open_layout
from ..precision import resolve_teacher_amp
from ..tasks import CTCTask, Distiller
from ..trainer import TrainConfig, Trainer, TrainState
from .config import RunConfig, StudentRunConfig, TeacherRunConfig
from .folder import RunDir, check_out, flatten, same_value
from .record import DistillInfo, RunRecord, Score

EpochHook = Callable[[dict], None]


@dataclass
class Job:
    """What a run trains: the task, its vocabulary and views, and what the record adds."""

    role: str  # teacher | student
    task: CTCTask
    vocab: Vocab
    spec: ViewSpec
    layout: DatasetLayout
    augment_seed: int  # of the training views (`SLRDataset`): `RunConfig.augment_seed`
    kd: str = "none"
    distill: DistillInfo | None = None
    extra_config: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# -- the two kinds of run ------------------------------------------------------------------------
def train_teacher(
    cfg: TeacherRunConfig, on_epoch: EpochHook | None = None, command: str | None = None
) -> RunRecord | None:
    """Train a teacher; returns its record (None on ranks other than 0)."""
    check_out(cfg)
    return fit_and_test(cfg, teacher_job(cfg), on_epoch, command or cfg.as_call("train_teacher"))


def distill(
    cfg: StudentRunConfig, on_epoch: EpochHook | None = None, command: str | None = None
) -> RunRecord | None:
    """Train LRINet from a frozen teacher run; returns its record (None on ranks other than 0)."""
    check_out(cfg)
    return fit_and_test(cfg, student_job(cfg), on_epoch, command or cfg.as_call("distill"))


def reuse_or_resume(out: str | Path, cfg: RunConfig | None = None) -> tuple[RunRecord | None, bool]:
    """For re-runnable callers (the study, the API's `reuse`): the record of a complete run in
    `out` (kept as it is), else whether a partial run there should be resumed.

    With `cfg`, the run that `cfg` would make: a complete run made with other settings (a
    preset's learning rate or KD weight changed since) is refused, not passed off as this one.
    """
    run = RunDir(out)
    if run.is_complete():
        if cfg is not None and (stale := stale_settings(run, cfg)):
            raise ConfigError(
                f"{run.path}: a finished run made with other settings ({'; '.join(stale)}); "
                "remove it to train it again, or choose another folder"
            )
        return RunRecord.read(run.path), False
    return None, run.config_path.is_file()


# What may differ between a finished run and a call that reuses it: where and how it ran
# (the per-process batch follows the number of processes), not what it learned.
_REUSE_FREE = {"device", "threads", "num_workers", "world_size", "batch_size", "grad_accum"}


def stale_settings(run: RunDir, cfg: RunConfig) -> list[str]:
    """The settings of `run`'s config.json that `cfg` asks otherwise, as "key: was X, now Y"."""
    old = flatten(run.read_config())
    want = {f"train.{k}": v for k, v in asdict(cfg.train_config()).items() if k not in _REUSE_FREE}
    want |= {"preset": cfg.preset, "seed": cfg.seed, "augment_seed": augment_seed(cfg)}
    old.setdefault("augment_seed", old.get("seed"))  # a run made before it drew from its seed
    if isinstance(cfg, StudentRunConfig):
        terms = cfg.kd_terms()
        want |= {"kd": cfg.kd_label, "student_variant": cfg.variant, "head_init": cfg.head_init}
        old.setdefault("head_init", "random")  # made before a head could start as the teacher's
        want["view.student_size"] = cfg.input_size
        # the terms' weights and options, in either spelling of config.json (a run made before
        # KD terms had names holds kd, alpha, beta and temperature); a weight counts only where
        # its term is used
        old |= kd_settings(recorded_terms(run.read_config()))
        want |= kd_settings(terms)
        if terms:  # taught by another teacher run, it is another run
            want["teacher_run"] = str(cfg.teacher)
            want["teacher_amp"] = resolve_teacher_amp(cfg.amp, cfg.device_type())
            old.setdefault("teacher_amp", "none")  # made before: the teacher ran in fp32
    # a setting added after the run was made counts at its default, which is what the run did
    for f in fields(TrainConfig):
        if f.default is not MISSING:
            old.setdefault(f"train.{f.name}", f.default)
    return [
        f"{k}: was {old.get(k)!r}, now {v!r}"
        for k, v in want.items()
        if not same_value(k, old.get(k), v)
    ]


def teacher_job(cfg: TeacherRunConfig) -> Job:
    preset = cfg.preset_spec
    layout = open_layout(cfg.data_config())
    vocab = build_vocab(layout, cfg.vocab)
    seed_everything(cfg.seed)
    model = build_teacher(preset, len(vocab), cfg.visual_ctc)
    if cfg.pretrained:
        n = load_resnet18_trunk(model.trunk, cfg.pretrained)
        print(f"loaded {n} pretrained trunk tensors from {cfg.pretrained}")
    spec = teacher_view(preset, layout)
    extra = {
        "vocab_convention": cfg.vocab,
        "pretrained": str(cfg.pretrained) if cfg.pretrained else None,
    }
    task = CTCTask(model, "teacher")
    return Job("teacher", task, vocab, spec, layout, augment_seed(cfg), extra_config=extra)


def teacher_view(preset: Preset, layout: DatasetLayout) -> ViewSpec:
    """The teacher's view of a dataset (flipped only where the layout allows it)."""
    return ViewSpec(preset.pre_size, preset.teacher.input_size, flip=layout.mirror_safe)


def student_job(cfg: StudentRunConfig) -> Job:
    size = cfg.input_size
    layout = open_layout(cfg.data_config())
    if cfg.teacher is None:  # --kd none alone: the vocabulary and views a teacher would have
        teacher, vocab, tview = None, build_vocab(layout), teacher_view(cfg.preset_spec, layout)
    else:
        teacher, tmeta = load_teacher(cfg)
        vocab = meta_vocab(tmeta, cfg.teacher / "checkpoint.json")
        tview = meta_view(tmeta)
    spec = ViewSpec(tview.pre_size, tview.teacher_size, size, flip=tview.flip)
    augment = augment_seed(cfg)
    seed_everything(cfg.seed)
    student = build_student(cfg.preset_spec, len(vocab), size, variant=cfg.variant)
    if cfg.head_init == "teacher":
        init_head_from(student, teacher)
    terms = cfg.kd_terms()
    teacher_amp = resolve_teacher_amp(cfg.amp, cfg.device_type()) if terms else "none"
    task = Distiller(
        student, teacher, kd=terms, teacher_cache=cfg.teacher_cache, teacher_amp=teacher_amp
    )
    info = DistillInfo(
        student_variant=cfg.variant,
        kd_terms=terms,
        teacher_run=str(cfg.teacher) if cfg.teacher is not None else "",
        teacher_input_size=tview.teacher_size,
    )
    extra = {
        "kd": cfg.kd_label,
        **info.to_json(),
        "teacher_amp": teacher_amp,
        "head_init": cfg.head_init,
    }
    return Job(
        role="student",
        task=task,
        vocab=vocab,
        spec=spec,
        layout=layout,
        augment_seed=augment,
        kd=cfg.kd_label,
        distill=info,
        extra_config=extra,
    )


def augment_seed(cfg: RunConfig) -> int:
    """The seed of a run's training views: --augment-seed, else a student's teacher's seed
    (every student of a teacher sees the same views, and can share its outputs), else --seed."""
    if cfg.augment_seed is not None:
        return cfg.augment_seed
    teacher = getattr(cfg, "teacher", None)
    seed = teacher_seed(teacher) if teacher is not None else None
    return cfg.seed if seed is None else seed


def teacher_seed(run: Path) -> int | None:
    """The seed a teacher run was trained with, from its config.json (checked: a file read
    from disk is untrusted); None for a teacher folder without one (a model alone)."""
    folder = RunDir(run)
    if not folder.config_path.is_file():
        return None
    value = folder.read_config().get("seed")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise FileFormatError(
            folder.config_path, f"seed must be an integer 0 to {MAX_SEED}, got {value!r}"
        )
    return value


def load_teacher(cfg: StudentRunConfig):
    """The teacher run's model and meta; a student run or another preset is refused."""
    teacher, meta = load_model(cfg.teacher)
    source = cfg.teacher / "checkpoint.json"
    if meta.get("role", "teacher") != "teacher":
        raise CheckpointError(source, f"--teacher names a {meta.get('role')} run, not a teacher")
    if meta.get("preset") != cfg.preset:
        raise CheckpointError(
            source,
            f"teacher was trained with preset {meta.get('preset')!r}, "
            f"not {cfg.preset!r}; pass --preset {meta.get('preset')}",
        )
    return teacher, meta


# -- the steps -----------------------------------------------------------------------------------
def fit_and_test(
    cfg: RunConfig, job: Job, on_epoch: EpochHook | None, command: str
) -> RunRecord | None:
    """Load the data, train the job's task, test its best checkpoint, write metrics.json.

    Rank 0 holds the run folder's lock throughout. Everything that can refuse a resumption
    (the saved state, the epochs asked) is checked before the folder is touched.
    """
    env = init_distributed(cfg.device)
    threads = cfg.threads or (cfg.preset_spec.train_threads if env.device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    splits = load_splits(cfg, job, env)
    run = RunDir(cfg.out)
    with run.lock() if env.is_main else contextlib.nullcontext():
        config = run_config(cfg, job, env)
        if env.is_main and cfg.resume:
            run.check_resume(config)
        cost = {"params": count_params(job.task.model), "gmacs": gmacs_per_frame(job.task.model)}
        trainer = make_trainer(cfg, job, env, run)
        if env.is_main:
            run.start(config, command, resume=cfg.resume)
        loaders = {
            s: make_loader(
                ds,
                batch_size=trainer.cfg.batch_size,
                train=s == "train",
                seed=cfg.seed,
                env=env,
                num_workers=cfg.num_workers,
            )
            for s, ds in splits.items()
        }
        t0 = time.perf_counter()
        state = fit(trainer, run, loaders, on_epoch or print_epoch, env)
        record = None
        if env.is_main:
            score = test_best(trainer, run, loaders["test"])
            record = make_record(
                cfg,
                job,
                env=env,
                state=state,
                score=score,
                cost=cost,
                train=splits["train"],
                t0=t0,
            )
            record.write(run.path)
            print_summary(record, run.path)
    barrier(env)  # the other ranks wait for rank 0's test evaluation before leaving
    shutdown(env)
    return record


def make_trainer(cfg: RunConfig, job: Job, env: DistEnv, run: RunDir) -> Trainer:
    """The trainer, with the run's saved state when resuming (checked, nothing written)."""
    meta = model_meta(
        job.task.model, cfg.preset, job.spec, job.vocab, role=job.role, dataset=job.layout.name
    )
    trainer = Trainer(
        job.task, cfg.train_config(), folder=run.path, env=env, meta=meta, vocab=job.vocab
    )
    if not cfg.resume:
        return trainer
    if not trainer.resume() and run.is_complete():
        raise CheckpointError(
            run.path / "last.safetensors",
            "missing, though metrics.json says the run finished: it cannot be resumed "
            "(the run is left as it is)",
        )
    if trainer.state.best_epoch > 0:  # the best checkpoint is what the run is tested on
        load_model(run.path, expect_role=job.role)
    done, asked = trainer.state.epoch, trainer.cfg.epochs
    if asked < done:
        raise ConfigError(
            f"{run.path}: cannot resume to {asked} epoch(s): the run has already done {done}; "
            f"pass --epochs {done} or more (the run is left as it is)"
        )
    return trainer


def fit(trainer: Trainer, run: RunDir, loaders: dict, on_epoch: EpochHook, env: DistEnv):
    """`trainer.fit`; a diverged run says what its folder can still do."""
    try:
        return trainer.fit(loaders["train"], loaders["dev"], on_epoch=on_epoch)
    except NumericalError as exc:
        if not env.is_main:
            raise
        last = run.path / "last.safetensors"
        if last.is_file():
            after = (
                f"{run.path} keeps epoch {trainer.state.epoch} ({last.name}): --resume continues "
                "it with the same settings (with --nan-policy skip, such batches are skipped); "
                "to change them, remove the folder and start again"
            )
        elif others := run.clear_start():
            after = (
                f"no epoch had finished, so the run's files were removed from {run.path}, but it "
                f"holds other files ({', '.join(others[:3])}): move them to start it again"
            )
        else:
            after = (
                f"no epoch had finished, so nothing was saved and {run.path} was cleared: start "
                "it again (without --resume) with other settings"
            )
        raise NumericalError(f"{exc}; {after}") from exc


def load_splits(cfg: RunConfig, job: Job, env: DistEnv) -> dict[str, SLRDataset]:
    """train, dev and test, each checked to give CTC enough output steps for its labels."""
    data = cfg.data_config()
    splits = {
        s: load_split(
            job.layout,
            data,
            s,
            vocab=job.vocab,
            spec=job.spec,
            train=s == "train",
            seed=job.augment_seed,
            show_progress=env.is_main,
        )
        for s in ("train", "dev", "test")
    }
    lengths = job.task.model.output_lengths
    check_ctc_lengths(splits["train"], lengths, 1 - job.spec.temporal_rescale)
    for s in ("dev", "test"):
        check_ctc_lengths(splits[s], lengths)
    return splits


def run_config(cfg: RunConfig, job: Job, env: DistEnv) -> dict:
    """What `config.json` records (and what a resumed run must match)."""
    train = cfg.train_config()
    return {
        "role": job.role,
        "preset": cfg.preset,
        "data": str(cfg.data),
        "dataset": job.layout.name,
        "view": job.spec.to_dict(),
        "net": job.task.model.cfg.to_dict(),
        "train": asdict(train),
        "seed": cfg.seed,
        "augment_seed": job.augment_seed,
        "loss": job.task.describe(),
        "world_size": env.world_size,
        "epochs": train.epochs,
        **job.extra_config,
    }


def test_best(trainer: Trainer, run: RunDir, test_loader) -> Score:
    """The best checkpoint (by dev WER) on the test split."""
    trainer.task.model.load_state_dict(load_weights(run.path / "checkpoint.safetensors"))
    return Score.of("test", trainer.evaluate(test_loader))


def make_record(
    cfg: RunConfig,
    job: Job,
    env: DistEnv,
    state: TrainState,
    score: Score,
    cost: dict,
    train: SLRDataset,
    t0: float,
) -> RunRecord:
    frames = sum(train.lengths()) * state.epoch
    fps = frames / state.train_seconds if state.train_seconds > 0 else 0.0
    cache = getattr(job.task, "teacher_cache", None)
    cached = cache.stats() if cache is not None else {"hits": 0, "misses": 0}
    return RunRecord(
        role=job.role,
        preset=cfg.preset,
        input_size=job.task.model.cfg.input_size,
        seed=cfg.seed,
        dataset=job.layout.name,
        world_size=env.world_size,
        kd=job.kd,
        vocab_size=len(job.vocab),
        params=cost["params"],
        gmacs_per_frame=cost["gmacs"],
        loss=job.task.describe(),
        epochs=cfg.train_config().epochs,
        best_epoch=state.best_epoch,
        best_dev_wer=state.best_wer,
        train_seconds=round(state.train_seconds, 2),
        score=score,
        n_train=len(train),
        train_fps=round(fps, 1),
        skipped_batches=state.skipped_batches,
        epochs_run=state.epoch,
        wall_seconds_this_process=round(time.perf_counter() - t0, 2),
        teacher_cache_hits=cached["hits"],
        teacher_cache_misses=cached["misses"],
        peak_memory_mb=round(peak_memory_mb(env.device), 1),
        distill=job.distill,
    )


def peak_memory_mb(device: torch.device) -> float:
    """The CUDA allocator's peak on a GPU; else this process's peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def shown(path: Path) -> str:
    """`path` as printed: relative to the current folder or its parent when inside them (so a
    notebook's output, published as HTML, names no folder of this machine), else as given."""
    path, cwd = Path(path).absolute(), Path.cwd()
    for base, prefix in ((cwd, ""), (cwd.parent, "../")):
        if path.is_relative_to(base):
            return prefix + path.relative_to(base).as_posix()
    return str(path)


def print_summary(record: RunRecord, path: Path) -> None:
    s = record.score
    print(
        f"{record.role}: test WER {s.wer:.2f}% (S {s.sub} D {s.dele} I {s.ins} N {s.n_ref}), "
        f"best dev WER {record.best_dev_wer:.2f}% at epoch {record.best_epoch}, "
        f"{record.train_seconds:.0f}s training -> {shown(path)}"
    )


def print_epoch(row: dict) -> None:
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
