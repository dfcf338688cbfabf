"""The fused GRU kernel (gru_steps.cpp), compiled with this machine's C++ compiler.

Built once per CPU type on first use (`modelshrink.native_build`). Where no compiler is
found, `compiled_kernels()` returns None with a warning and the GRU runs in TorchScript
(gru_kernel.py), the same computation, float32 ~1.1x and int8 ~1.3x slower (on VNNI
CPUs; on AVX2 CPUs without VNNI it loses the AVX2 int8 kernel, compress/int8_path.py).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from modelshrink.native_build import build_inline

SOURCE = Path(__file__).with_name("gru_steps.cpp")


def compiled_kernels() -> ModuleType | None:
    """The compiled module (`gru_steps`, `quantize_symmetric`), or None."""
    return build_inline("modelshrink_gru_steps", SOURCE, "TorchScript")
