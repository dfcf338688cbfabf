"""Running minimap2 and reading its PAF output, the one alignment step identity metrics share."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelshrink.errors import ModelshrinkError

INSTALL_HINT = "install the Debian package `minimap2` or the conda package `bioconda::minimap2`"


@dataclass(frozen=True)
class PafAlignment:
    """One PAF line (0-based, end-exclusive coordinates) with BLAST-style identity."""

    query: str
    query_length: int
    query_start: int
    query_end: int
    target_start: int
    target_end: int
    matches: int
    block_length: int
    target: str = ""

    @property
    def identity(self) -> float:
        """Matching bases / alignment block length (gaps included): Wick's BLAST identity."""
        return self.matches / self.block_length if self.block_length else 0.0

    @property
    def query_span(self) -> int:
        return self.query_end - self.query_start

    @property
    def target_span(self) -> int:
        return self.target_end - self.target_start


def minimap2_executable() -> str:
    """Path of minimap2, or a clear error saying how to install it."""
    executable = shutil.which("minimap2")
    if executable is None:
        raise ModelshrinkError(f"minimap2 not found on PATH; {INSTALL_HINT}")
    return executable


def parse_paf_line(line: str) -> PafAlignment:
    fields = line.rstrip("\n").split("\t")
    if len(fields) < 12:
        raise ModelshrinkError(f"minimap2 output: expected >= 12 PAF columns, got {line!r}")
    return PafAlignment(
        query=fields[0],
        query_length=int(fields[1]),
        query_start=int(fields[2]),
        query_end=int(fields[3]),
        target_start=int(fields[7]),
        target_end=int(fields[8]),
        matches=int(fields[9]),
        block_length=int(fields[10]),
        target=fields[5],
    )


def align_paf(
    reference: Path, queries: Path, preset: str, threads: int = 1
) -> Iterator[PafAlignment]:
    """Align `queries` to `reference` with `minimap2 -x preset -c` and yield every alignment.

    Secondary and supplementary alignments are kept on purpose: Wick's per-base identity
    takes, for each query base, the best alignment covering it, whichever kind it is.
    `-c` makes minimap2 compute base-level alignments so column 10/11 are exact.
    """
    command = [
        minimap2_executable(),
        "-x",
        preset,
        "-c",
        "-t",
        str(max(1, threads)),
        str(reference),
        str(queries),
    ]
    # stderr goes to a file, not a pipe: minimap2 logs a line per batch and a full pipe
    # would block it while we are reading stdout.
    with (
        tempfile.TemporaryFile(mode="w+") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                yield parse_paf_line(line)
        returncode = process.wait()
        log.seek(0)
        tail = "\n".join(log.read().strip().splitlines()[-5:])
    if returncode != 0:
        raise ModelshrinkError(
            f"minimap2 -x {preset} failed on {queries} vs {reference} (exit {returncode}): {tail}"
        )
