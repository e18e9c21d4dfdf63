"""Run folders: config, provenance (git commit and diff), logs, and metrics marked complete.

A run folder is created empty; `metrics.json` with `"complete": true` is written last, so a
crashed run never looks finished. Starting over an existing run needs `--resume`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .errors import ConfigError
from .io import atomic_write_json, atomic_write_text, read_json


def git_provenance(cwd: Path | None = None) -> str:
    """`git describe`, commit, status and diff of the code tree, or a note why there is none."""
    cwd = cwd or Path(__file__).resolve().parent.parent

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

    def is_complete(self) -> bool:
        if not self.metrics_path.is_file():
            return False
        try:
            return bool(read_json(self.metrics_path).get("complete"))
        except (OSError, ValueError):
            return False

    def start(self, config: dict, resume: bool = False) -> None:
        """Create the folder (or check it when resuming) and write config and provenance."""
        has_files = self.path.is_dir() and any(self.path.iterdir())
        if has_files and not resume:
            raise ConfigError(
                f"{self.path}: run folder exists and is not empty; pass --resume "
                "to continue it or choose another --out"
            )
        if resume and (self.path / "config.json").is_file():
            old = _flatten(read_json(self.path / "config.json"))
            new = _flatten(json.loads(json.dumps(config)))  # tuples -> lists, as stored
            changed = {
                k
                for k in old.keys() | new.keys()
                if k.split(".")[-1] not in _RESUMABLE and old.get(k) != new.get(k)
            }
            if changed:
                raise ConfigError(
                    f"{self.path}: cannot resume with a different config "
                    f"({', '.join(sorted(changed))} changed)"
                )
        self.path.mkdir(parents=True, exist_ok=True)
        if self.metrics_path.exists():  # a resumed run is no longer complete until it ends
            self.metrics_path.unlink()
        for stale in self.path.glob(".*.tmp"):  # a write that a kill interrupted
            stale.unlink()
        atomic_write_json(self.path / "config.json", config)
        atomic_write_text(self.path / "git.txt", git_provenance())
        atomic_write_text(self.path / "command.txt", " ".join(sys.argv) + "\n")

    def write_log(self, history: list[dict]) -> None:
        atomic_write_text(self.path / "log.jsonl", "".join(json.dumps(h) + "\n" for h in history))

    def finish(self, metrics: dict) -> None:
        atomic_write_json(
            self.metrics_path,
            {**metrics, "complete": True, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")},
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
}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
