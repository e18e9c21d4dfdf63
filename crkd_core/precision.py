"""How a training step computes: mixed precision and memory format, chosen for the device.

`--amp auto` (the default):
- the trained network: bf16 autocast on a CUDA GPU that has bf16; fp32 on a CPU. On this
  project's AVX-512 BF16 machine, bf16 teachers trained about 1.4x faster per step, but less
  stably: every bf16 teacher seed stopped on the plateau rule or ended behind the fp32 teachers
  of the same seeds (README, "How a step computes"), and a speed change must not move WER.
  `--amp bf16` asks for it anyway;
- the frozen teacher's forward pass in distillation: bf16 wherever the device computes it
  natively (a CPU with AVX-512 BF16 or AMX whose kernels are not pinned below AVX-512, see
  `machine.py`; a CUDA GPU with bf16). It computes no gradient, so bf16 only rounds the KD
  targets.
Emulated bf16 (older CPUs, or kernels pinned to AVX2) is slower than fp32 and never chosen.
`--channels-last auto` lays a teacher's frame trunk out channels-last on a CPU, where oneDNN's
convolutions, pooling and batch norm run faster on it; LRINet stays contiguous (see
`resolve_channels_last`).

The choices are recorded in the run's `config.json` (`train.amp`, `train.channels_last`,
`teacher_amp`); `benchmarks/train_speed.py` measures them against the step before.
"""

from __future__ import annotations

import os

import torch

from .errors import ConfigError
from .machine import cpu_info

AMP_CHOICES = ("auto", "none", "bf16", "fp16")
CHANNELS_LAST_CHOICES = ("auto", "on", "off")
# oneDNN ISA caps below which bf16 is emulated (ONEDNN_MAX_CPU_ISA)
_NO_NATIVE_BF16 = {
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively in the kernels torch will use."""
    isa = set(cpu_info()["isa"])
    if not isa & {"avx512_bf16", "amx_bf16"}:
        return False
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False  # ATen pinned to a lower kernel set (ATEN_CPU_CAPABILITY)
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper() not in _NO_NATIVE_BF16


def native_bf16(device: str) -> bool:
    """Whether `device` ("cpu" or "cuda") computes bf16 natively."""
    return torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_native_bf16()


def resolve_amp(amp: str, device: str) -> str:
    """The autocast precision of a run on `device` ("cpu" or "cuda"): none, bf16 or fp16. `auto`
    is bf16 on a GPU that computes it natively, and fp32 on a CPU (module docstring)."""
    if amp not in AMP_CHOICES:
        raise ConfigError(f"--amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    if amp == "fp16" and device != "cuda":
        raise ConfigError("--amp fp16 needs a CUDA device; on a CPU use bf16 or auto")
    if amp != "auto":
        return amp
    return "bf16" if device == "cuda" and native_bf16(device) else "none"


def resolve_teacher_amp(amp: str, device: str) -> str:
    """The autocast precision of a frozen teacher's forward pass in distillation: `auto` takes
    bf16 wherever the device computes it natively, whatever the trained network uses."""
    if amp != "auto":
        return resolve_amp(amp, device)
    return "bf16" if native_bf16(device) else "none"


def resolve_channels_last(choice: str, device: str, role: str = "teacher") -> bool:
    """Whether the trained network's frame trunk is laid out channels-last: `auto` for a
    teacher on a CPU. LRINet stays contiguous: its channels-last training step corrupted memory
    (segfaults, "double free") with 2 threads at 32 px on this project's AVX-512 machine,
    torch 2.13, and gained little at 1 thread (its narrow trunk is bound by per-op overhead)."""
    if choice not in CHANNELS_LAST_CHOICES:
        raise ConfigError(
            f"--channels-last must be one of {', '.join(CHANNELS_LAST_CHOICES)}, got {choice!r}"
        )
    return choice == "on" or (choice == "auto" and device == "cpu" and role == "teacher")


def autocast_dtype(amp: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision; None for fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
