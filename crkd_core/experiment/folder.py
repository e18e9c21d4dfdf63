"""Run folders: config, provenance (git commit and diff, the call that started the run).

A run folder is created empty; `metrics.json` (a `RunRecord`) is written last, so a crashed run
never looks finished. Starting over an existing run needs `--resume`; resuming a folder that
does not hold a run is refused. While a run trains, it holds an exclusive lock on `.lock` in
its folder, so a second process cannot train into the same folder.

A write that fails (a full disk) leaves the folder as the last completed epoch left it:
`last.safetensors` of that epoch (or none, before the first) and no `metrics.json`, so it
never looks finished, and `--resume` continues it.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError, FileFormatError
from ..io import atomic_write_json, atomic_write_text, exclusive_lock, owning_run, read_json
from ..losses.registry import recorded_terms
from ..machine import machine_facts

LOCK_FILE = ".lock"


def git_provenance(cwd: Path | None = None) -> str:
    """`git describe`, commit, status and diff of the code tree, or a note why there is none."""
    cwd = cwd or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"<git unavailable: {exc}>"
        return r.stdout if r.returncode == 0 else f"<git {args[0]} failed: {r.stderr.strip()}>"

    return (
        f"commit: {git('rev-parse', 'HEAD').strip()}\n"
        f"status:\n{git('status', '--short')}\n"
        f"diff:\n{git('diff', 'HEAD')}"
    )


def git_commit() -> str:
    return git_provenance().splitlines()[0].removeprefix("commit: ")


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def read_config(self) -> dict:
        """`config.json`, refused with its path unless it is a JSON object."""
        config = read_json(self.config_path)
        if not isinstance(config, dict):
            raise FileFormatError(self.config_path, "must be a JSON object (damaged or edited?)")
        for key, value in flatten(config).items():
            text = [key, *(v for v in _items(value) if isinstance(v, str))]
            if not all(t.isprintable() for t in text):
                raise FileFormatError(self.config_path, f"{key!r} holds a control character")
            if any(isinstance(v, float) and not math.isfinite(v) for v in _items(value)):
                raise FileFormatError(self.config_path, f"{key!r} is not finite: {value!r}")
        return config

    def is_complete(self) -> bool:
        if not self.metrics_path.is_file():
            return False
        try:
            metrics = read_json(self.metrics_path)
        except (OSError, ValueError):
            return False
        return isinstance(metrics, dict) and metrics.get("complete") is True

    def check_start(self, resume: bool) -> None:
        """Refuse, before any work, to start over a run or to resume what is not one."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path}: --out exists and is not a folder")
        has_files = self.path.is_dir() and any(p.name != LOCK_FILE for p in self.path.iterdir())
        if has_files and not resume:
            raise ConfigError(
                f"{self.path}: run folder exists and is not empty; pass --resume "
                "to continue it or choose another --out"
            )
        if resume and not self.config_path.is_file():
            what = "does not exist" if not self.path.exists() else "holds no run (no config.json)"
            raise ConfigError(f"{self.path}: cannot --resume: the folder {what}")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Create the folder and hold its lock; ConfigError if another process holds it."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path}: --out exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)

        def busy(holder: str) -> ConfigError:
            return ConfigError(
                f"{self.path}: another crkd process (pid {holder}) is training this run "
                f"(it holds {LOCK_FILE}); wait for it to finish or choose another --out"
            )

        with exclusive_lock(self.path / LOCK_FILE, busy):
            yield

    def start(self, config: dict, command: str, resume: bool = False) -> None:
        """Create the folder (or check it when resuming) and write config and provenance.

        `command` is the call that started the run (a `crkd ...` line, or the Python call of
        the API), recorded in `command.txt`.
        """
        if resume:
            self.check_resume(config)
        else:
            self.check_start(resume)
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(".*.tmp"):  # a write that a kill interrupted
            stale.unlink()
        atomic_write_json(self.path / "config.json", config)
        atomic_write_text(self.path / "git.txt", git_provenance())
        atomic_write_text(self.path / "command.txt", command + "\n")
        self.record_machine(resume)
        # Last: a resumed run is no longer complete until it ends, but one refused above (a
        # damaged file, a full disk) is left finished.
        self.metrics_path.unlink(missing_ok=True)

    def record_machine(self, resume: bool) -> None:
        """Add this process's machine to `machine.json` (a list: one entry per start or resume,
        as a run resumed on another CPU has two)."""
        path = self.path / MACHINE_FILE
        sessions = []
        if resume and path.is_file():
            record = read_json(path)
            sessions = record.get("sessions") if isinstance(record, dict) else None
            if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
                raise ConfigError(f"{path}: 'sessions' is not a list of objects")
        atomic_write_json(path, {"sessions": [*sessions, machine_facts()]})

    def clear_start(self) -> list[str]:
        """Remove what a run that finished no epoch wrote (no `last.safetensors`: nothing there
        can be resumed), so that it can start again afresh; the names of other files left."""
        for name in _RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        return sorted(p.name for p in self.path.iterdir() if p.name != LOCK_FILE)

    def check_resume(self, config: dict) -> None:
        """Refuse to resume what is not a run, or a run made with another config."""
        self.check_start(resume=True)
        self._check_same_config(config)

    def _check_same_config(self, config: dict) -> None:
        old = flatten(same_kd_spelling(self.read_config()))
        new = flatten(same_kd_spelling(json.loads(json.dumps(config))))  # tuples -> lists
        changed = sorted(
            k
            for k in old.keys() | new.keys()
            if k.split(".")[-1] not in _RESUMABLE and not same_value(k, old.get(k), new.get(k))
        )
        if changed:
            raise ConfigError(
                f"{self.path}: cannot resume with a different config ({', '.join(changed)} changed)"
            )


MACHINE_FILE = "machine.json"  # where the run was made (crkd_core.machine)


def check_out(cfg) -> None:
    """Refuse, before any work, an --out that is a run's input or lies in another run, and a
    cache that would be written into another run's folder; `cfg` is a `RunConfig`."""
    run = RunDir(cfg.out)
    out = run.path.absolute()
    inputs = {"--data": cfg.data, "--teacher": getattr(cfg, "teacher", None)}
    for option, path in inputs.items():
        if path is not None and Path(path).exists() and inside(out, Path(path)):
            raise ConfigError(f"{run.path}: --out is or lies inside {option} {path}")
    if (owner := owning_run(out)) is not None:
        raise ConfigError(f"{run.path}: --out lies inside another run folder, {owner}")
    caches = {"--cache-dir": cfg.cache_dir, "--teacher-cache": getattr(cfg, "teacher_cache", None)}
    for option, path in caches.items():
        owner = owning_run(Path(path)) if path is not None else None
        if owner is not None and not inside(owner, out):
            raise ConfigError(f"{path}: {option} lies inside another run folder, {owner}")
    run.check_start(cfg.resume)


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies below it (links resolved)."""
    return path.resolve().is_relative_to(folder.resolve())


# What a run writes before its first `last.safetensors`.
_RUN_FILES = (
    "config.json",
    "git.txt",
    MACHINE_FILE,
    "command.txt",
    "checkpoint.json",
    "checkpoint.safetensors",
    "last.json",
    "log.jsonl",
)


# Keys that may change between a run and its resumption: more epochs, another device, or
# another number of processes (with the per-process batch size adjusted to it).
_RESUMABLE = {
    "epochs",
    "device",
    "threads",
    "resume",
    "out",
    "world_size",
    "num_workers",
    "batch_size",
    "grad_accum",
    "patience",
    "min_epochs",
    "nan_policy",  # skipping a batch that diverged is how such a run is resumed
}


# Keys that hold paths: two spellings of one folder (relative, absolute) are the same value.
_PATH_KEYS = {"data", "teacher_run", "pretrained"}


_OLD_KD_KEYS = ("feature_kd", "alpha", "beta", "temperature")


def same_kd_spelling(config: dict) -> dict:
    """A student's config.json with its KD in today's keys (kd_terms, student_variant), also
    when it was written before KD terms had names (feature_kd, alpha, beta, temperature)."""
    if config.get("role") != "student":
        return config
    out = {k: v for k, v in config.items() if k not in _OLD_KD_KEYS}
    variant = config.get("student_variant", config.get("feature_kd"))
    return out | {"kd_terms": recorded_terms(config), "student_variant": variant}


def same_value(key: str, a, b) -> bool:
    """Whether two values of a config key are the same setting (a path in either spelling)."""
    if key.split(".")[-1] in _PATH_KEYS and isinstance(a, str) and isinstance(b, str):
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def _items(value) -> list:
    """A value, or the items of a list value (`flatten` keeps lists whole)."""
    return list(value) if isinstance(value, list) else [value]


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
