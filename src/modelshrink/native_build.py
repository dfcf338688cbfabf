"""C++ kernels compiled with this machine's compiler on first use, or None without one.

Built once per source and CPU type and cached by torch under TORCH_EXTENSIONS_DIR (default
~/.cache/torch_extensions); later processes load the build in about a second. Callers keep
an ATen fallback for when this returns None, so a machine without a compiler still runs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import subprocess
import threading
from pathlib import Path
from types import ModuleType

from modelshrink.cpu_features import cpu_flags

log = logging.getLogger(__name__)

_BUILD_LOCK = threading.Lock()


def build_inline(prefix: str, source: Path, fallback: str) -> ModuleType | None:
    """The compiled module for `source`, or None with a warning naming `fallback`."""
    with _BUILD_LOCK:  # worker threads may all get here first together
        return _build(prefix, source, fallback)


@functools.cache
def _build(prefix: str, source: Path, fallback: str) -> ModuleType | None:
    """Named per source and CPU feature set: a home directory shared by a cluster's
    different nodes never runs code built for another CPU (-march=native)."""
    from torch.utils import cpp_extension

    text = source.read_text()
    digest = hashlib.sha256(text.encode() + cpu_flags().encode()).hexdigest()[:12]
    try:
        # inline: torch copies the text into its build folder, so every checkout of
        # the same source shares one build instead of rebuilding for its own path
        return cpp_extension.load_inline(
            name=f"{prefix}_{digest}",
            cpp_sources=[text],
            extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp-simd"],
        )
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.warning("could not compile %s (%s); using %s", source.name, reason, fallback)
        return None
