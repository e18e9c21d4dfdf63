"""Where a run was made: the CPU and its ISA, the kernel set, library versions, threads, the GPU.

torch (ATen), oneDNN, MKL and onnxruntime choose their kernels by the CPU's ISA, so float results
differ in the last bits between machines of one kind, and the same seed trains another run on
another CPU (18.9 against 20.4 % test WER for one teacher seed). A run folder's `machine.json`
and the study's provenance say which kernels made a result.

`PINNED_KERNELS` is the environment that makes a CPU with AVX-512 take the AVX2 code paths of
ATen, oneDNN and MKL (`make ... KERNELS=avx2`, or export the variables before Python starts:
they are read once, at the first kernel call). Runs made with it on CPUs of this kind run the
same code paths; the README gives its cost in speed.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

PINNED_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}

# The ISA extensions that decide which kernels run (as /proc/cpuinfo spells them).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
)


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU's model name and the ISA flags of `ISA_FLAGS` it has (first processor)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = cpuinfo.read_text("utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
    return {"model": model, "isa": [f for f in ISA_FLAGS if f in flags]}


def kernel_pins() -> dict:
    """The kernel-set variables of `PINNED_KERNELS` that are set in this process."""
    return {k: os.environ[k] for k in PINNED_KERNELS if k in os.environ}


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict:
    """This process's machine, as a run folder's `machine.json` records it."""
    import torch

    gpu = None
    if torch.cuda.is_available():
        gpu = {
            "name": torch.cuda.get_device_name(0),
            "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda,
        }
    return {
        "cpu": cpu_info(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "kernel_pins": kernel_pins(),
        "pinned": kernel_pins() == PINNED_KERNELS,
        "torch": torch.__version__,
        "onnxruntime": version("onnxruntime"),
        "numpy": version("numpy"),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "gpu": gpu,
    }


def describe(facts: dict) -> dict[str, str]:
    """`machine_facts` as the rows of a report's provenance table."""
    pins = facts["kernel_pins"]
    kernels = facts["torch_cpu_capability"] + (
        " (pinned: " + ", ".join(f"{k}={v}" for k, v in pins.items()) + ")" if pins else ""
    )
    gpu = facts["gpu"]
    return {
        "CPU": facts["cpu"]["model"],
        "ISA": " ".join(facts["cpu"]["isa"]) or "unknown",
        "kernels (torch CPU capability)": kernels,
        "torch / onnxruntime / numpy": (
            f"{facts['torch']} / {facts['onnxruntime'] or 'not installed'} / {facts['numpy']}"
        ),
        "GPU": f"{gpu['name']} x{gpu['count']} (CUDA {gpu['cuda']})" if gpu else "none",
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory, MiB: VmHWM of /proc/self/status.

    Not `ru_maxrss` on Linux: it carries the parent's peak over fork and exec into a child, so a
    child started from a large parent would report the parent's peak.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        import resource  # not Linux: the best there is

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return int(kb) / 1024
