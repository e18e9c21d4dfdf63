"""Run folders: config, provenance (git commit and diff, the call that started the run).

A run folder is created empty; `metrics.json` (a `RunRecord`) is written last, so a crashed run
never looks finished. Starting over an existing run needs `--resume`; resuming a folder that
does not hold a run is refused.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..errors import ConfigError
from ..io import atomic_write_json, atomic_write_text, read_json


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

    def is_complete(self) -> bool:
        if not self.metrics_path.is_file():
            return False
        try:
            return bool(read_json(self.metrics_path).get("complete"))
        except (OSError, ValueError):
            return False

    def check_start(self, resume: bool) -> None:
        """Refuse, before any work, to start over a run or to resume what is not one."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path}: --out exists and is not a folder")
        has_files = self.path.is_dir() and any(self.path.iterdir())
        if has_files and not resume:
            raise ConfigError(
                f"{self.path}: run folder exists and is not empty; pass --resume "
                "to continue it or choose another --out"
            )
        if resume and not self.config_path.is_file():
            what = "does not exist" if not self.path.exists() else "holds no run (no config.json)"
            raise ConfigError(f"{self.path}: cannot --resume: the folder {what}")

    def start(self, config: dict, command: str, resume: bool = False) -> None:
        """Create the folder (or check it when resuming) and write config and provenance.

        `command` is the call that started the run (a `crkd ...` line, or the Python call of
        the API), recorded in `command.txt`.
        """
        self.check_start(resume)
        if resume:
            self._check_same_config(config)
        self.path.mkdir(parents=True, exist_ok=True)
        if self.metrics_path.exists():  # a resumed run is no longer complete until it ends
            self.metrics_path.unlink()
        for stale in self.path.glob(".*.tmp"):  # a write that a kill interrupted
            stale.unlink()
        atomic_write_json(self.path / "config.json", config)
        atomic_write_text(self.path / "git.txt", git_provenance())
        atomic_write_text(self.path / "command.txt", command + "\n")

    def _check_same_config(self, config: dict) -> None:
        old = flatten(read_json(self.config_path))
        new = flatten(json.loads(json.dumps(config)))  # tuples -> lists, as stored
        changed = sorted(
            k
            for k in old.keys() | new.keys()
            if k.split(".")[-1] not in _RESUMABLE and not same_value(k, old.get(k), new.get(k))
        )
        if changed:
            raise ConfigError(
                f"{self.path}: cannot resume with a different config ({', '.join(changed)} changed)"
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
}


# Keys that hold paths: two spellings of one folder (relative, absolute) are the same value.
_PATH_KEYS = {"data", "teacher_run", "pretrained"}


def same_value(key: str, a, b) -> bool:
    """Whether two values of a config key are the same setting (a path in either spelling)."""
    if key.split(".")[-1] in _PATH_KEYS and isinstance(a, str) and isinstance(b, str):
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
