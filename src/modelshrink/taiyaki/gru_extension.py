"""The fused GRU kernel (gru_steps.cpp), compiled with this machine's C++ compiler.

Built once per CPU type on first use and cached by torch under TORCH_EXTENSIONS_DIR
(default ~/.cache/torch_extensions); later processes load it in about a second. Where
no compiler is found, `compiled_kernels()` returns None with a warning and the GRU
runs in TorchScript (gru_kernel.py), the same computation, float32 ~1.1x and int8
~1.3x slower (on VNNI CPUs; on AVX2 CPUs without VNNI it loses the AVX2 int8 kernel,
compress/int8_path.py).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import platform
import subprocess
import threading
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("gru_steps.cpp")
_BUILD_LOCK = threading.Lock()


def compiled_kernels() -> ModuleType | None:
    """The compiled module (`gru_steps`, `quantize_symmetric`), or None."""
    with _BUILD_LOCK:  # basecalling worker threads may all get here first together
        return _build()


@functools.cache
def _build() -> ModuleType | None:
    """Named per source and CPU feature set: a home directory shared by a cluster's
    different nodes never runs code built for another CPU (-march=native)."""
    from torch.utils import cpp_extension

    digest = hashlib.sha256(SOURCE.read_bytes() + _cpu_features().encode()).hexdigest()[:12]
    try:
        # inline: torch copies the text into its build folder, so every checkout of
        # the same source shares one build instead of rebuilding for its own path
        return cpp_extension.load_inline(
            name=f"modelshrink_gru_steps_{digest}",
            cpp_sources=[SOURCE.read_text()],
            extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp-simd"],
        )
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.warning("could not compile the fused GRU kernel (%s); using TorchScript", reason)
        return None


def _cpu_features() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return line
    return platform.processor()
