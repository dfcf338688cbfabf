"""Unaligned BAM as Dorado writes it (see ont_records for the header and tags).

The @RG lines name every run the reads came from, which is known only once all reads
are called; records therefore go to a scratch BAM beside the target first and are
copied under the complete header at the end (cheap next to basecalling). Both files
are temporaries of the target (atomic.py), so a failed run leaves neither behind.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pysam

from modelshrink.atomic import scratch_file
from modelshrink.basecaller.basecall import Basecall
from modelshrink.basecaller.ont_records import bam_tags, program, read_group, read_group_id


class UnalignedBamWriter:
    """Writes into `temporary` (the atomic output's temporary file) on `close`."""

    def __init__(
        self,
        temporary: Path,
        target: Path,
        model: str,
        version: str,
        command_line: str,
        stride: int,
        emit_moves: bool,
    ) -> None:
        self.temporary, self.model = temporary, model
        self.stride, self.emit_moves = stride, emit_moves
        self.header = {
            "HD": {"VN": "1.6", "SO": "unknown"},
            "PG": [program(version, command_line)],
        }
        self._groups: dict[str, dict[str, str]] = {}
        self._stack = contextlib.ExitStack()
        self._scratch = self._stack.enter_context(scratch_file(target, ".bam"))
        # uncompressed: the scratch is read once, right away
        self._records = pysam.AlignmentFile(str(self._scratch), "wb0", header=self.header)

    def write(self, call: Basecall) -> None:
        group = read_group_id(call.metadata, self.model)
        if group not in self._groups:
            self._groups[group] = read_group(call.metadata, self.model)
        record = pysam.AlignedSegment(self._records.header)
        record.query_name = call.read_id
        record.query_sequence = call.sequence
        record.query_qualities = pysam.qualitystring_to_array(call.qualities)
        record.flag = 4
        for tag, value, kind in bam_tags(call, self.model, self.stride, self.emit_moves):
            record.set_tag(tag, value, value_type=None if kind == "B" else kind)
        self._records.write(record)

    def close(self, complete: bool) -> None:
        """Copies the records under the full header when `complete`; always removes the
        scratch file."""
        try:
            self._records.close()
            if complete:
                header = {**self.header, "RG": list(self._groups.values())}
                with (
                    pysam.AlignmentFile(str(self._scratch), "rb", check_sq=False) as records,
                    pysam.AlignmentFile(str(self.temporary), "wb", header=header) as output,
                ):
                    for record in records:
                        output.write(record)
        finally:
            self._stack.close()
