"""Read truth table: which stretch of the sample genome each simulated read is.

TSV with a header, one row per read:

    read_id  contig  strand  start  end  sequence

`start`/`end` are 0-based, half-open coordinates on the + strand of the sample genome
(BED convention); `sequence` is the exact source sequence in read orientation, i.e.
sample[contig][start:end] for strand '+', its reverse complement for '-'.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.reads import SimulatedRead
from modelshrink.simulate.sink import ReadSink

COLUMNS = ("read_id", "contig", "strand", "start", "end", "sequence")


@dataclass(frozen=True)
class TruthRecord:
    read_id: str
    contig: str
    strand: str
    start: int
    end: int
    sequence: str


class TruthWriter(ReadSink):
    """Streams truth rows as reads are simulated."""

    def _open(self, temporary: Path, stack: contextlib.ExitStack) -> None:
        self._handle = stack.enter_context(temporary.open("w"))
        self._handle.write("\t".join(COLUMNS) + "\n")

    def add(self, read: SimulatedRead) -> None:
        layout = read.layout
        fields = (layout.read_id, layout.contig, layout.strand, layout.start, layout.end)
        self._handle.write("\t".join(map(str, fields)) + f"\t{read.sequence}\n")


def read_truth_table(path: str | Path) -> list[TruthRecord]:
    """Rows of a truth table, checking the header so a wrong file fails with its name."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ModelshrinkError(f"cannot read truth table {path}: {error}") from error
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ModelshrinkError(f"truth table {path}: expected header {' '.join(COLUMNS)}")
    records = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ModelshrinkError(f"{path}:{number}: expected {len(COLUMNS)} columns")
        read_id, contig, strand, start, end, sequence = fields
        records.append(TruthRecord(read_id, contig, strand, int(start), int(end), sequence))
    return records
