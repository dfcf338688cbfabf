"""Atomic output files: a failed or interrupted run must never leave a half-written result
that Snakemake (or a user) would mistake for a finished one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary file lives in the destination folder so the final rename is atomic
    (same filesystem). `suffix` keeps an extension that writers rely on (e.g. ".vcf.gz").
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(handle)
    os.chmod(name, 0o644)  # mkstemp makes 0600; results are meant to be shared
    temporary = Path(name)
    try:
        yield temporary
        if temporary.exists():
            os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs are shared
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` through a temporary file and rename."""
    with atomic_output(path) as temporary:
        temporary.write_text(text)
