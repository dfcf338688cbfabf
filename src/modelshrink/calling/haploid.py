"""Haploid small-variant calls from per-strand allele counts, by rules one can check by hand.

A haploid genome has one allele per site, so a real variant is carried by nearly every
read while a basecalling error is carried by some. Of the primary alignments with
mapping quality >= `min_mapq`, an allele is called when

- at least `min_depth` reads span it;
- at least `min_snp_fraction` (SNPs) or `min_indel_fraction` (indels) of them carry it
  (indel errors are the commoner ones in nanopore reads, so indels need more support);
- on each strand with any spanning read, at least `min_strand_fraction` of that
  strand's reads carry it (nanopore errors are often strand-specific; real variants
  are read on both strands);
- it is not an indel that only lengthens or shortens a reference homopolymer run of
  `homopolymer_limit` or more bases: R9.4.1 reads misjudge such runs on every strand
  and in most reads (0 calls them too).

Besides the mapping-quality floor (the workflow's summary counts the reads it drops),
every threshold is a share of the reads there, never a base-quality cut, so a basecaller
whose quality scores drop a little loses calls gradually rather than all at once. Base
qualities are not used at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelshrink.calling.pileup import (
    Allele,
    StrandDepth,
    WindowCounts,
    strand_depth,
    window_counts,
)
from modelshrink.errors import ModelshrinkError

WINDOW = 100_000


@dataclass(frozen=True)
class HaploidRules:
    """The caller's thresholds (module docstring); defaults suit 20-50x R9.4.1 reads."""

    min_mapq: int = 20
    min_depth: int = 5
    min_snp_fraction: float = 0.5
    min_indel_fraction: float = 0.6
    min_strand_fraction: float = 0.3
    homopolymer_limit: int = 4

    def __post_init__(self) -> None:
        for name in ("min_snp_fraction", "min_indel_fraction", "min_strand_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ModelshrinkError(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
        for name in ("min_mapq", "min_depth", "homopolymer_limit"):
            if getattr(self, name) < 0:
                raise ModelshrinkError(
                    f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class Call:
    contig: str
    allele: Allele
    forward: int  # reads carrying the allele, per strand
    reverse: int
    depth: tuple[int, int]  # reads spanning it, per strand

    @property
    def fraction(self) -> float:
        return (self.forward + self.reverse) / max(1, sum(self.depth))

    @property
    def strand_fractions(self) -> tuple[float | None, float | None]:
        """Per-strand fraction of reads carrying the allele (None: no read on that strand)."""
        carried = (self.forward, self.reverse)
        return tuple(c / d if d else None for c, d in zip(carried, self.depth, strict=True))


@dataclass(frozen=True)
class CallingTally:
    """What the caller saw and skipped, for the log and the summary."""

    reads_mapped: int
    reads_used: int
    homopolymer_indels_skipped: int


def homopolymer_run(sequence: str, allele: Allele) -> int:
    """Length of the reference homopolymer run an indel only lengthens or shortens; 0 for
    SNPs and for indels that change anything else. Indels are left-aligned, so the run
    starts right after the anchor."""
    if not allele.is_indel:
        return 0
    changed = allele.ref[1:] if len(allele.ref) > len(allele.alt) else allele.alt[1:]
    start = allele.position + 1
    if start >= len(sequence) or set(changed) != {sequence[start]}:
        return 0
    end = start
    while end < len(sequence) and sequence[end] == sequence[start]:
        end += 1
    return end - start


def passes(call: Call, rules: HaploidRules) -> bool:
    """The depth, fraction and strand rules (the homopolymer rule is separate: it is counted)."""
    minimum = rules.min_indel_fraction if call.allele.is_indel else rules.min_snp_fraction
    if sum(call.depth) < rules.min_depth or call.fraction < minimum:
        return False
    carried = (call.forward, call.reverse)
    for count, depth in zip(carried, call.depth, strict=True):
        if depth and count / depth < rules.min_strand_fraction:
            return False
    return True


def call_window(
    contig: str, sequence: str, counts: WindowCounts, depth: StrandDepth, rules: HaploidRules
) -> tuple[list[Call], int]:
    """Calls among one window's alleles, and how many homopolymer indels passed every
    other rule but were not called. An indel's depth is the reads spanning all its
    reference bases; a SNP's is the reads with a base aligned there (a read deleting the
    base is no evidence on which base it is: R9.4.1 basecalls drop bases next to some
    SNPs in up to half of the reads)."""
    calls, skipped = [], 0
    for allele, (forward, reverse) in counts.alleles.items():
        if allele.is_indel:
            spanning = depth.of(allele)
        else:
            spanning = counts.base_depth(depth, allele.position)
        call = Call(contig, allele, forward, reverse, (int(spanning[0]), int(spanning[1])))
        if not passes(call, rules):
            continue
        if rules.homopolymer_limit and homopolymer_run(sequence, allele) >= rules.homopolymer_limit:
            skipped += 1
            continue
        calls.append(call)
    return calls, skipped


def call_contigs(
    bam_path: Path, contigs: Iterable[tuple[str, str]], rules: HaploidRules
) -> tuple[list[Call], CallingTally]:
    """Haploid calls on every (name, sequence) contig, sorted by contig order and position."""
    import pysam

    try:
        bam = pysam.AlignmentFile(str(bam_path))
        bam.check_index()
    except (OSError, ValueError) as error:
        raise ModelshrinkError(
            f"alignments {bam_path}: expected a sorted, indexed BAM ({error})"
        ) from error
    calls: list[Call] = []
    mapped = used = skipped = 0
    with bam:
        present = set(bam.references)
        for contig, sequence in contigs:
            if contig not in present:
                continue  # no read can map there
            sequence = sequence.upper()
            depth = strand_depth(bam, contig, len(sequence), rules.min_mapq)
            mapped += depth.reads_mapped
            used += depth.reads_used
            for counts in window_counts(bam, contig, sequence, rules.min_mapq, WINDOW):
                found, dropped = call_window(contig, sequence, counts, depth, rules)
                calls += sorted(
                    found, key=lambda c: (c.allele.position, c.allele.ref, c.allele.alt)
                )
                skipped += dropped
    return calls, CallingTally(mapped, used, skipped)
