"""What the CPU can do for int8 and float16 kernels, read at run time.

oneDNN picks its own instructions (AVX2 `vpmaddubsw`, AVX-512, VNNI, AMX) inside each
kernel; this module lets the caller choose between execution paths that differ by more
than that (native float16 or float32 arithmetic) and say in reports what the kernels ran
on. Linux reads /proc/cpuinfo; elsewhere torch's own dispatch level is the best guess.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
from pathlib import Path

import torch


@dataclasses.dataclass(frozen=True)
class CpuFeatures:
    x86: bool
    avx2: bool
    avx512: bool  # F + BW + VL, what oneDNN's AVX-512 int8 kernels need
    vnni: bool  # AVX512-VNNI or AVX-VNNI: one instruction per int8 multiply-accumulate
    amx: bool  # AMX-INT8 tiles
    native_fp16: bool  # AVX512-FP16 or AMX-FP16: float16 arithmetic without widening

    @classmethod
    def from_flags(cls, flags: set[str], x86: bool = True) -> CpuFeatures:
        return cls(
            x86=x86,
            avx2="avx2" in flags,
            avx512={"avx512f", "avx512bw", "avx512vl"} <= flags,
            vnni=bool({"avx512_vnni", "avx_vnni"} & flags),
            amx={"amx_int8", "amx_tile"} <= flags,
            native_fp16=bool({"avx512_fp16", "amx_fp16"} & flags),
        )

    def describe(self) -> str:
        """e.g. `avx2, no vnni` or `avx512 vnni amx`: the instruction sets int8 kernels use."""
        if not self.x86:
            return platform.machine() or "unknown cpu"
        names = [
            name
            for name, present in (("avx512", self.avx512), ("vnni", self.vnni), ("amx", self.amx))
            if present
        ]
        if not names:
            return "avx2, no vnni" if self.avx2 else "x86 without avx2"
        if not self.avx512:
            names.insert(0, "avx2")
        return " ".join(names)


def cpu_flags() -> str:
    """The kernel's CPU feature line (`flags : ...` of /proc/cpuinfo where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return line
    return platform.processor()


@functools.cache
def detect() -> CpuFeatures:
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686")
    line = cpu_flags()
    if line.startswith("flags"):
        return CpuFeatures.from_flags(set(line.partition(":")[2].split()), x86)
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", "DEFAULT", ...
    flags = {"avx2"} if capability in ("AVX2", "AVX512") else set()
    if capability == "AVX512":
        flags |= {"avx512f", "avx512bw", "avx512vl"}
    return CpuFeatures.from_flags(flags, x86)
