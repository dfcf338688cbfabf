"""Which int8 GEMM runs the int8 GRU on this CPU.

The fastest int8 kernel depends on the instruction set, measured at Taiyaki's GRU shape
(128 rows x 96 -> 288):

- `int_mm`: torch._int_mm (oneDNN) inside the fused C++ step. Fast where the CPU has
  VNNI (AVX-512 VNNI or AMX): int8 basecalling 1.6x float32 on a 2-core AVX-512 VNNI
  machine. Without VNNI it has no fast path: 27x slower than float32 `linear` on a
  Zen 3 (AVX2) machine.
- `avx2`: modelshrink's own kernel in the fused C++ step (gru_steps.cpp): int16
  vpmaddwd, input projection and recurrent products fused per tile of rows. For AVX2
  CPUs without AVX-512 VNNI.
- `torchscript`: the TorchScript loop with torch._int_mm, where the C++ extension
  could not be built, and on non-CPU devices.

`MODELSHRINK_INT8_KERNEL` (auto, avx2, int_mm, torchscript) forces one, e.g. to
compare them (bench/int8_speed.py).
"""

from __future__ import annotations

import functools
import os
import platform

import torch

from modelshrink import cpu_features
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.errors import ModelshrinkError

ENVIRONMENT_VARIABLE = "MODELSHRINK_INT8_KERNEL"
AVX2, INT_MM, TORCHSCRIPT = "avx2", "int_mm", "torchscript"
PATHS = (AVX2, INT_MM, TORCHSCRIPT)
#: /proc/cpuinfo flags under which torch._int_mm has its fast (VNNI) path
VNNI_FLAGS = ("avx512_vnni", "amx_int8")
#: flags worth reporting next to a speed measurement
REPORTED_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    line = cpu_features.cpu_flags()
    return frozenset(line.partition(":")[2].split()) if line.startswith("flags") else frozenset()


def cpu_description() -> str:
    """One line for a benchmark: the reported flags present and torch's SIMD level."""
    present = [flag for flag in REPORTED_FLAGS if flag in cpu_flags()] or ["unknown"]
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{platform.machine()} {' '.join(present)}; torch CPU capability {capability}"


def available_paths(device: torch.device) -> list[str]:
    """Every path that can run on `device` here, the automatic choice first."""
    if device.type != "cpu":
        return [TORCHSCRIPT]
    compiled = compiled_kernels()
    if compiled is None:
        return [TORCHSCRIPT]
    paths = [INT_MM, TORCHSCRIPT]
    if compiled.avx2_available():
        has_vnni = any(flag in cpu_flags() for flag in VNNI_FLAGS)
        paths.insert(1 if has_vnni else 0, AVX2)
    return paths


def int8_gru_path(device: torch.device, requested: str | None = None) -> str:
    """The path to run: `requested`, else $MODELSHRINK_INT8_KERNEL, else the fastest."""
    choice = requested or os.environ.get(ENVIRONMENT_VARIABLE, "auto")
    available = available_paths(device)
    if choice == "auto":
        return available[0]
    if choice not in PATHS:
        raise ModelshrinkError(
            f"{ENVIRONMENT_VARIABLE}={choice!r} is not an int8 kernel; expected auto or one "
            f"of {', '.join(PATHS)}"
        )
    if choice not in available:
        raise ModelshrinkError(
            f"int8 kernel {choice!r} ({ENVIRONMENT_VARIABLE}) cannot run on this "
            f"{device.type} ({cpu_description()}); available: {', '.join(available)}"
        )
    return choice
