"""Writing basecalls as FASTQ, FASTA (optionally gzipped) or unaligned BAM, atomically."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import IO

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError

FASTQ_SUFFIXES = (".fastq", ".fq", ".fastq.gz", ".fq.gz")
FASTA_SUFFIXES = (".fasta", ".fa", ".fasta.gz", ".fa.gz")


class BasecallWriter:
    """Context manager: the output file appears only if the block finishes without error."""

    def __init__(self, output: str | Path) -> None:
        self.output = str(output)
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
        self._bam = None

    def __enter__(self) -> BasecallWriter:
        if self.output == "-":
            self._handle = sys.stdout
            return self
        self._atomic = atomic_output(self.output, suffix=Path(self.output).suffix)
        temporary = self._atomic.__enter__()
        if self.kind == "bam":
            import pysam

            header = {
                "HD": {"VN": "1.6", "SO": "unknown"},
                "PG": [{"ID": "modelshrink", "PN": "modelshrink"}],
            }
            self._bam = pysam.AlignmentFile(str(temporary), "wb", header=header)
        elif self.output.endswith(".gz"):
            self._handle = gzip.open(temporary, "wt", compresslevel=1)
        else:
            self._handle = open(temporary, "w")
        return self

    def write(self, read_id: str, sequence: str, qualities: str) -> None:
        if self._bam is not None:
            import pysam

            record = pysam.AlignedSegment()
            record.query_name = read_id
            record.query_sequence = sequence
            record.query_qualities = pysam.qualitystring_to_array(qualities)
            record.flag = 4
            self._bam.write(record)
        elif self.kind == "fastq":
            self._handle.write(f"@{read_id}\n{sequence}\n+\n{qualities}\n")
        else:
            self._handle.write(f">{read_id}\n{sequence}\n")

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._bam is not None:
            self._bam.close()
        elif self._handle is not None and self._handle is not sys.stdout:
            self._handle.close()
        if self._atomic is not None:
            self._atomic.__exit__(exc_type, exc, traceback)
