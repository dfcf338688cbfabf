"""Atomic output files: a failed or interrupted run must never leave a half-written result
that Snakemake (or a user) would mistake for a finished one.

The temporary file is hidden beside its target and named after the writing process
(`.<name>.<host>.<pid>.<random>.tmp<suffix>`). A failure removes it; a process killed
outright (SIGKILL, out of memory) cannot, so the next write of the same target removes
every such file whose process on this host has ended.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(target: Path, suffix: str = "") -> list[Path]:
    """Removes the temporaries of `target` left by ended processes of this host; returns them.

    Files from other hosts (a shared filesystem) or from live processes are left alone:
    they may belong to a write still in progress.
    """
    prefix, ending = f".{target.name}.", f".tmp{suffix}"
    host = socket.gethostname()
    removed = []
    for candidate in target.parent.glob(glob.escape(prefix) + "*" + glob.escape(ending)):
        owner = candidate.name[len(prefix) : -len(ending)].rsplit(".", 2)
        if len(owner) != 3 or owner[0] != host or not owner[1].isdigit():
            continue
        pid = int(owner[1])
        if pid == os.getpid() or _process_alive(pid):
            continue
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue  # another run cleaned it up first
        except OSError as error:
            log.warning("cannot remove the stale temporary file %s: %s", candidate, error)
            continue
        log.info("removed %s, left by an interrupted run (process %d)", candidate, pid)
        removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary file lives in the destination folder so the final rename is atomic
    (same filesystem). `suffix` keeps an extension that writers rely on (e.g. ".vcf.gz").
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target, suffix)
    with scratch_file(target, suffix) as temporary:
        yield temporary
        if temporary.exists():
            os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs are shared
        os.replace(temporary, target)


@contextlib.contextmanager
def scratch_file(target: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary file beside `target`, always removed afterwards; named like the
    temporaries of `atomic_output(target, suffix)`, so one left by a killed process is
    cleaned up by the next write of `target`."""
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.{socket.gethostname()}.{os.getpid()}.",
        suffix=f".tmp{suffix}",
        dir=target.parent,
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` through a temporary file and rename."""
    with atomic_output(path) as temporary:
        temporary.write_text(text)
