"""Per-strand allele counts of one contig from a sorted, indexed BAM.

Each read's CIGAR is walked once: mismatches become SNP alleles; every deletion and
insertion is left-aligned against the reference and written in VCF's anchored form, so
reads that place the same indel at different offsets of a repeat count as one allele
(an aligner scores those placements equally and picks one per read). Counts are kept
per strand because nanopore basecaller errors are often strand-specific (the k-mer
context differs on the two strands) while a real variant is read on both.

Only primary alignments with mapping quality >= min_mapq count. The contig is counted
window by window so memory stays bounded on bacterial genomes (noisy reads carry some
erroneous allele at a large share of positions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pysam

FORWARD, REVERSE = 0, 1
MATCH_OPS = (0, 7, 8)  # M, =, X
INSERTION, DELETION, SKIP, SOFT_CLIP = 1, 2, 3, 4


@dataclass(frozen=True)
class Allele:
    """A VCF record's alleles: `position` is 0-based (VCF POS - 1); indels carry the
    reference base before them as anchor."""

    position: int
    ref: str
    alt: str

    @property
    def is_indel(self) -> bool:
        return len(self.ref) != len(self.alt)


@dataclass(frozen=True)
class StrandDepth:
    """Reads (primary, MAPQ-filtered) spanning each base, per strand: shape (2, length)."""

    spanning: np.ndarray
    reads_mapped: int
    reads_used: int

    def of(self, allele: Allele) -> np.ndarray:
        """Reads spanning every reference base of `allele`, per strand (forward, reverse)."""
        end = allele.position + len(allele.ref)
        return self.spanning[:, allele.position : end].min(axis=1)


def usable(read: pysam.AlignedSegment, min_mapq: int) -> bool:
    return read.mapping_quality >= min_mapq and read.query_sequence is not None


def is_primary(read: pysam.AlignedSegment) -> bool:
    return not (read.is_unmapped or read.is_secondary or read.is_supplementary)


def strand_depth(bam: pysam.AlignmentFile, contig: str, length: int, min_mapq: int) -> StrandDepth:
    """Spanning depth of `contig` per strand from read start/end only (no CIGAR walk)."""
    change = np.zeros((2, length + 1), dtype=np.int64)
    mapped = used = 0
    for read in bam.fetch(contig):
        if not is_primary(read):
            continue
        mapped += 1
        if not usable(read, min_mapq):
            continue
        used += 1
        strand = REVERSE if read.is_reverse else FORWARD
        change[strand, read.reference_start] += 1
        change[strand, read.reference_end] -= 1
    spanning = np.cumsum(change[:, :length], axis=1).astype(np.int32)
    return StrandDepth(spanning, mapped, used)


def leftmost_deletion(sequence: str, start: int, length: int) -> int:
    """Leftmost start of the deletion of sequence[start:start+length] with the same result."""
    while start > 0 and sequence[start - 1] == sequence[start + length - 1]:
        start -= 1
    return start


def leftmost_insertion(sequence: str, start: int, inserted: str) -> tuple[int, str]:
    """Leftmost point to insert `inserted` before sequence[start] with the same result,
    and the inserted bases as written there (rotated through the repeat)."""
    while start > 0 and sequence[start - 1] == inserted[-1]:
        inserted = inserted[-1] + inserted[:-1]
        start -= 1
    return start, inserted


@dataclass(frozen=True)
class WindowCounts:
    """One window's alleles with their [forward, reverse] read counts, and per strand the
    reads whose alignment has a deletion over each base of the window (shape (2, size))."""

    start: int
    alleles: dict[Allele, list[int]]
    deleted: np.ndarray

    def base_depth(self, depth: StrandDepth, position: int) -> np.ndarray:
        """Reads with a base aligned at `position`, per strand: the spanning reads less
        those that delete it (their "no base here" is evidence for another allele)."""
        return depth.spanning[:, position] - self.deleted[:, position - self.start]


def read_differences(
    read: pysam.AlignedSegment, sequence: str, codes: np.ndarray
) -> tuple[list[Allele], list[tuple[int, int]]]:
    """Every allele `read` differs from the reference by, and the reference ranges its
    alignment deletes (as aligned, before left-alignment); `codes` is `sequence` as bytes."""
    query = read.query_sequence
    query_codes = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    alleles: list[Allele] = []
    deletions: list[tuple[int, int]] = []
    ref_pos, query_pos = read.reference_start, 0
    for operation, length in read.cigartuples:
        if operation in MATCH_OPS:
            differ = (
                query_codes[query_pos : query_pos + length] != codes[ref_pos : ref_pos + length]
            )
            for offset in np.flatnonzero(differ).tolist():
                ref_base, read_base = sequence[ref_pos + offset], query[query_pos + offset]
                if ref_base != "N" and read_base != "N":
                    alleles.append(Allele(ref_pos + offset, ref_base, read_base))
            ref_pos += length
            query_pos += length
        elif operation == DELETION:
            deletions.append((ref_pos, ref_pos + length))
            start = leftmost_deletion(sequence, ref_pos, length)
            if start > 0:
                alleles.append(
                    Allele(start - 1, sequence[start - 1 : start + length], sequence[start - 1])
                )
            ref_pos += length
        elif operation == INSERTION:
            start, inserted = leftmost_insertion(
                sequence, ref_pos, query[query_pos : query_pos + length]
            )
            if start > 0 and "N" not in inserted:
                anchor = sequence[start - 1]
                alleles.append(Allele(start - 1, anchor, anchor + inserted))
            query_pos += length
        elif operation == SKIP:
            ref_pos += length
        elif operation == SOFT_CLIP:
            query_pos += length
    return alleles, deletions


def window_counts(
    bam: pysam.AlignmentFile,
    contig: str,
    sequence: str,
    min_mapq: int,
    window: int,
) -> Iterator[WindowCounts]:
    """Allele and deletion counts per window of `window` bases (alleles by their anchor
    position). A read overlapping several windows is walked once per window."""
    codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    for start in range(0, len(sequence), window):
        end = min(start + window, len(sequence))
        counts: dict[Allele, list[int]] = {}
        deleted = np.zeros((2, end - start), dtype=np.int32)
        for read in bam.fetch(contig, start, end):
            if not is_primary(read) or not usable(read, min_mapq):
                continue
            strand = REVERSE if read.is_reverse else FORWARD
            alleles, deletions = read_differences(read, sequence, codes)
            for allele in alleles:
                if start <= allele.position < end:
                    counts.setdefault(allele, [0, 0])[strand] += 1
            for first, last in deletions:
                if first < end and last > start:
                    deleted[strand, max(first, start) - start : min(last, end) - start] += 1
        yield WindowCounts(start, counts, deleted)
