"""Confident-regions BED: where the truth set claims to be complete.

Query calls outside these regions are UNK (not FP) and truth variants outside them are not
counted, as in hap.py's `-f`. A variant is inside when its position (the anchor base for a
pure insertion) lies in a region.
"""

from __future__ import annotations

import bisect
import gzip
from pathlib import Path

from modelshrink.errors import ModelshrinkError


class ConfidentRegions:
    """Merged, sorted half-open intervals per contig with O(log n) point lookups."""

    def __init__(self, intervals: dict[str, list[tuple[int, int]]]) -> None:
        self._starts: dict[str, list[int]] = {}
        self._ends: dict[str, list[int]] = {}
        for contig, spans in intervals.items():
            merged: list[list[int]] = []
            for start, end in sorted(spans):
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            self._starts[contig] = [s for s, _ in merged]
            self._ends[contig] = [e for _, e in merged]

    def contains(self, contig: str, position: int) -> bool:
        starts = self._starts.get(contig)
        if not starts:
            return False
        index = bisect.bisect_right(starts, position) - 1
        return index >= 0 and position < self._ends[contig][index]

    @property
    def total_length(self) -> int:
        return sum(
            end - start
            for contig in self._starts
            for start, end in zip(self._starts[contig], self._ends[contig], strict=True)
        )


def read_bed(path: Path) -> ConfidentRegions:
    """Parse a BED (plain or gzipped); header lines (#, track, browser) are skipped."""
    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"confident-regions BED {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    intervals: dict[str, list[tuple[int, int]]] = {}
    try:
        with opener(path, "rt") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                fields = line.split("\t") if "\t" in line else line.split()
                try:
                    contig, start, end = fields[0], int(fields[1]), int(fields[2])
                except (IndexError, ValueError):
                    raise ModelshrinkError(
                        f"confident-regions BED {path} line {number}: expected "
                        f"'contig<TAB>start<TAB>end', got {line.strip()!r}"
                    ) from None
                if start < 0 or end < start:
                    raise ModelshrinkError(
                        f"confident-regions BED {path} line {number}: bad interval {start}-{end}"
                    )
                intervals.setdefault(contig, []).append((start, end))
    except (OSError, UnicodeDecodeError) as error:
        raise ModelshrinkError(f"confident-regions BED {path} is unreadable: {error}") from error
    if not intervals:
        raise ModelshrinkError(f"confident-regions BED {path} has no intervals")
    return ConfidentRegions(intervals)
