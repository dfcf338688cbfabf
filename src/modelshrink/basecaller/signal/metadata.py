"""Where and when a read was sequenced, as MinKNOW records it in fast5 and pod5 files.

Basecall output (BAM tags, FASTQ headers, sequencing_summary.txt) reports these the way
Dorado and Guppy do. A file may lack any of them (hand-made or converted files often
do); the value is then None and the output leaves that field out, rather than the read
being skipped: none of them is needed to call the read.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReadMetadata:
    """`start_sample` counts samples from the start of the run (MinKNOW's start_time in
    fast5, start_sample in pod5); `run_start` is the run's start (exp_start_time)."""

    source: Path
    run_id: str = ""
    sampling_rate: float | None = None
    channel: int | None = None
    mux: int | None = None
    read_number: int | None = None
    start_sample: int | None = None
    run_start: datetime.datetime | None = None

    def start_seconds(self) -> float | None:
        """Seconds from the start of the run to the start of the read."""
        if self.start_sample is None or not self.sampling_rate:
            return None
        return self.start_sample / self.sampling_rate

    def start_time(self) -> datetime.datetime | None:
        """The read's start as a UTC time (run start + start_sample / sampling rate)."""
        offset = self.start_seconds()
        if offset is None or self.run_start is None:
            return None
        return self.run_start + datetime.timedelta(seconds=offset)


def parse_run_start(text: str) -> datetime.datetime | None:
    """MinKNOW's exp_start_time ("2019-02-07T17:30:24Z", sometimes with fractional seconds
    or an offset) as an aware datetime; None when absent or not ISO 8601."""
    try:
        parsed = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def optional_int(value: object) -> int | None:
    """An attribute stored as a number or as text (fast5 keeps channel_number as bytes)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
