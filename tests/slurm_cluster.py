"""A real one-node Slurm for the tests: munged, slurmctld and slurmd started by hand.

Everything lives in one temporary folder: `slurm.conf`, munge's key and socket, the daemons'
state, spool, pid and log files. Nothing is written under /etc, /var or /run, the daemons
listen on free ports (two test runs may share a machine), and they are stopped by PID.
`SLURM_CONF` points the clients (sbatch, squeue, srun, submitit) at the folder's config.

The fixture (`slurm_cluster`, session-scoped, registered in conftest.py) skips outside CI when
the process is not root or a binary is missing (`bash tools/sysdeps.sh` installs them); under
`CI=true` it fails instead. There is no accounting (no slurmdbd): the study's executor learns
the end of a job that left no result from squeue and scontrol.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "scancel", "sinfo")
PARTITION = "crkd"


def missing_binaries() -> list[str]:
    return [b for b in (*DAEMONS, *CLIENTS) if find(b) is None]


def find(binary: str) -> str | None:
    """A binary on PATH or in the sbin folders that a root PATH has (Debian puts daemons there)."""
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    """One node with `cpus` CPUs and one partition, `PARTITION`, in `folder`."""

    folder: Path
    cpus: int = 2
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment a client of this cluster needs."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        for sub in ("state", "spool", "munge"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        f = self.folder
        lines = [
            "ClusterName=crkdtest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "AuthType=auth/munge",
            # a requeued job may start again once its credential has expired (default 120 s)
            f"AuthInfo=socket={f / 'munge' / 'munge.sock'},cred_expire=10",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",  # no cgroups in a container
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            "SchedulerParameters=sched_interval=1",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobRequeue=1",
            "MinJobAge=600",  # scontrol remembers an ended job for 10 minutes
            "MpiDefault=none",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "KillWait=5",
            "OverTimeLimit=0",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=4000",
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n", "utf-8")

    def start(self, timeout: float = 60) -> None:
        """Start munged, slurmctld and slurmd, and wait until the node is idle."""
        self.write_config()
        m = self.folder / "munge"
        self.procs["munged"] = self._spawn(
            find("munged"),
            "--foreground",
            "--force",  # root, and a socket folder outside /run
            f"--socket={m / 'munge.sock'}",
            f"--key-file={m / 'munge.key'}",
            f"--pid-file={m / 'munged.pid'}",
            f"--log-file={m / 'munged.log'}",
            f"--seed-file={m / 'munged.seed'}",
        )
        self._wait(lambda: (m / "munge.sock").exists(), timeout, "munged's socket")
        self.procs["slurmctld"] = self._spawn(find("slurmctld"), "-D", "-i", "-f", str(self.conf))
        self.procs["slurmd"] = self._spawn(
            find("slurmd"), "-D", "-N", self.node, "-f", str(self.conf)
        )
        self._wait(self.idle, timeout, f"node {self.node} to be idle")

    def _spawn(self, *argv: str) -> subprocess.Popen:
        log = open(self.folder / f"{Path(argv[0]).name}.stdout", "ab")  # noqa: SIM115 - kept open
        return subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )

    def _wait(self, ready, timeout: float, what: str) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            if dead:
                raise RuntimeError(f"{dead} exited while waiting for {what}; {self.logs()}")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}; {self.logs()}")

    def idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
        return out.strip().split() == ["idle"]

    def run(self, *argv: str, check: bool = True) -> str:
        done = subprocess.run(
            [find(argv[0]) or argv[0], *argv[1:]],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def wait_empty(self, timeout: float = 60) -> None:
        """Wait until no job is queued or running."""
        self._wait(lambda: not self.run("squeue", "-h", check=False).strip(), timeout, "no jobs")

    def stop(self) -> None:
        """Cancel every job, then stop the daemons by PID, node first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run("scancel", "--full", "--user", "root", check=False)
            with contextlib.suppress(RuntimeError):  # stopping anyway: slurmd's steps end with it
                self.wait_empty(30)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def logs(self) -> str:
        tails = []
        for name in ("slurmctld.log", "slurmd.log", "munge/munged.log"):
            path = self.folder / name
            if path.is_file():
                tails.append(f"--- {name}:\n" + "\n".join(path.read_text().splitlines()[-15:]))
        return "\n".join(tails)


def unavailable() -> str | None:
    """Why this machine cannot run the test cluster, or None."""
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root (it runs slurmd)"
    missing = missing_binaries()
    if missing:
        return f"missing {', '.join(missing)} (bash tools/sysdeps.sh installs them)"
    return None


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running one-node Slurm for the session; skipped (failed under CI=true) when the machine
    cannot run one."""
    why = unavailable()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Slurm is required under CI: {why}")
        pytest.skip(why)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    os.environ["SLURM_CONF"] = str(cluster.conf)  # for submitit and the study's own calls
    try:
        yield cluster
    finally:
        os.environ.pop("SLURM_CONF", None)
        cluster.stop()
