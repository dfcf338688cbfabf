"""Writing basecalls as FASTQ, FASTA (optionally gzipped) or unaligned BAM, atomically.

FASTQ headers and BAM header/tags follow Guppy and Dorado (ont_records, ont_bam); FASTA
keeps the bare read id.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import IO

from modelshrink.atomic import atomic_output
from modelshrink.basecaller.basecall import Basecall
from modelshrink.basecaller.ont_bam import UnalignedBamWriter
from modelshrink.basecaller.ont_records import fastq_header
from modelshrink.errors import ModelshrinkError
from modelshrink.version import package_version

FASTQ_SUFFIXES = (".fastq", ".fq", ".fastq.gz", ".fq.gz")
FASTA_SUFFIXES = (".fasta", ".fa", ".fasta.gz", ".fa.gz")


class BasecallWriter:
    """Context manager: the output file appears only if the block finishes without error."""

    def __init__(
        self,
        output: str | Path,
        model: str,
        command_line: str,
        stride: int,
        emit_moves: bool = False,
    ) -> None:
        """`model` names the basecall model in @RG and FASTQ headers; `stride` (network
        steps to samples) and `emit_moves` are for the BAM move table."""
        self.output = str(output)
        self.model, self.command_line = model, command_line
        self.stride, self.emit_moves = stride, emit_moves
        name = self.output.lower()
        if self.output == "-" or name.endswith(FASTQ_SUFFIXES):
            self.kind = "fastq"
        elif name.endswith(FASTA_SUFFIXES):
            self.kind = "fasta"
        elif name.endswith(".bam"):
            self.kind = "bam"
        else:
            raise ModelshrinkError(
                f"output {self.output}: expected a name ending in .fastq, .fq, .fasta, .fa "
                "(optionally .gz) or .bam, or - for stdout"
            )
        self._atomic = None
        self._handle: IO[str] | None = None
        self._bam: UnalignedBamWriter | None = None

    def __enter__(self) -> BasecallWriter:
        if self.output == "-":
            self._handle = sys.stdout
            return self
        self._atomic = atomic_output(self.output, suffix=Path(self.output).suffix)
        temporary = self._atomic.__enter__()
        if self.kind == "bam":
            self._bam = UnalignedBamWriter(
                temporary,
                Path(self.output),
                self.model,
                package_version(),
                self.command_line,
                self.stride,
                self.emit_moves,
            )
        elif self.output.endswith(".gz"):
            self._handle = gzip.open(temporary, "wt", compresslevel=1)
        else:
            self._handle = open(temporary, "w")
        return self

    def write(self, call: Basecall) -> None:
        if self._bam is not None:
            self._bam.write(call)
        elif self.kind == "fastq":
            header = fastq_header(call, self.model)
            self._handle.write(f"@{header}\n{call.sequence}\n+\n{call.qualities}\n")
        else:
            self._handle.write(f">{call.read_id}\n{call.sequence}\n")

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if self._bam is not None:
                self._bam.close(complete=exc_type is None)
            elif self._handle is not None and self._handle is not sys.stdout:
                self._handle.close()
        except BaseException as error:
            if self._atomic is not None:
                self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        if self._atomic is not None:
            self._atomic.__exit__(exc_type, exc, traceback)
