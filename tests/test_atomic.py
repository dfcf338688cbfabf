"""Atomic outputs: nothing half-written survives an error, SIGTERM or (on rerun) SIGKILL."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from modelshrink.atomic import atomic_output, remove_stale_temporaries

# Writes a temporary output, says where, then waits to be killed.
HOLD_OPEN = """
import sys, time
from modelshrink.atomic import atomic_output
from modelshrink.cli import sigterm_exits
with sigterm_exits(), atomic_output(sys.argv[1], suffix=".gz") as temporary:
    temporary.write_bytes(b"half")
    print(temporary, flush=True)
    time.sleep(600)
"""


def _hold_open(target: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(target)], stdout=subprocess.PIPE, text=True
    )
    temporary = Path(process.stdout.readline().strip())
    assert temporary.read_bytes() == b"half"
    return process, temporary


def test_error_removes_the_temporary_and_keeps_the_old_output(tmp_path: Path) -> None:
    target = tmp_path / "calls.fastq"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("failed midway")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.fastq"]
    assert target.read_text() == "previous\n"


def test_sigterm_removes_the_temporary(tmp_path: Path) -> None:
    process, temporary = _hold_open(tmp_path / "calls.fastq.gz")
    process.send_signal(signal.SIGTERM)
    assert process.wait() == 128 + signal.SIGTERM
    process.stdout.close()
    assert not temporary.exists()
    assert list(tmp_path.iterdir()) == []


def test_rerun_removes_what_a_sigkilled_writer_left(tmp_path: Path) -> None:
    target = tmp_path / "calls.fastq.gz"
    process, temporary = _hold_open(target)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    assert temporary.exists()  # nothing can clean up after SIGKILL ...
    with atomic_output(target, suffix=".gz") as fresh:
        fresh.write_bytes(b"complete")
    assert sorted(tmp_path.iterdir()) == [target]  # ... until the next write of the target
    assert target.read_bytes() == b"complete"


def test_temporaries_of_live_or_remote_writers_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "calls.fastq.gz"
    process, live = _hold_open(target)
    try:
        ended = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        dead_pid = int(ended.stdout)
        stale = tmp_path / f".calls.fastq.gz.{socket.gethostname()}.{dead_pid}.abc.tmp.gz"
        remote = tmp_path / f".calls.fastq.gz.other-host.{dead_pid}.abc.tmp.gz"
        other_target = tmp_path / f".calls.fastq.{socket.gethostname()}.{dead_pid}.abc.tmp.gz"
        for path in (stale, remote, other_target):
            path.write_bytes(b"half")
        assert remove_stale_temporaries(target, ".gz") == [stale]
        assert live.exists() and remote.exists() and other_target.exists()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
