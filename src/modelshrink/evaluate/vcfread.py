"""Reading a truth or query VCF into normalised variants, with the input checks users need.

Fatal, one ModelshrinkError naming the file (and the line, where there is one): a file
that is missing or no text VCF, a malformed line (see `vcftext`), no sample column or GT,
records out of order (they are streamed, so no index is needed, but order is), a contig
not in the reference, a record past the end of its contig, and REF alleles that disagree
with the reference (counted, the first few listed; hap.py would carry on, but such calls
mean the wrong reference or a broken file and would change the metrics silently; the
message names `bcftools norm -c x` for dropping them on purpose).

Skipped but counted (`CallSet.skipped`, logged as a warning and written to metrics.json):
called ALT alleles that are symbolic (<DEL>, <INS>, *, breakends: not small variants) or
IUPAC-ambiguous (no definite sequence), and duplicates, the same CHROM/POS/REF/ALT as an
earlier record, which count once (the first is kept, as `bcftools norm -d exact` does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.genomic_variants import Variant, normalise_allele
from modelshrink.evaluate.reference import ReferenceGenome
from modelshrink.evaluate.vcftext import VcfReader, VcfRecord, allele_kind

log = logging.getLogger(__name__)

SHOWN_MISMATCHES = 5
#: why a called ALT allele is left out of the comparison, in report order
SKIP_REASONS = {
    "duplicate": "duplicate (same CHROM/POS/REF/ALT as an earlier record; counted once)",
    "symbolic": "symbolic (<DEL>, <INS>, *, breakend; not a small variant)",
    "iupac": "IUPAC-ambiguous (no definite sequence)",
}


@dataclass
class SkippedAlleles:
    """Called ALT alleles left out, by reason, and where each reason first occurred."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    first: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, record: VcfRecord) -> None:
        self.counts[reason] += 1
        self.first.setdefault(reason, record.where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        return "; ".join(
            f"{count} {SKIP_REASONS[reason]}, first at {self.first[reason]}"
            for reason, count in self.counts.items()
            if count
        )


@dataclass
class CallSet:
    """Normalised variants of one VCF, per contig in reference order of appearance."""

    path: Path
    sample: str
    by_contig: dict[str, list[Variant]] = field(default_factory=dict)
    records: int = 0
    skipped: SkippedAlleles = field(default_factory=SkippedAlleles)

    def all_variants(self) -> list[Variant]:
        return [v for variants in self.by_contig.values() for v in variants]


def genotype_copies(gt: tuple[int | None, ...], allele: int, ploidy: int) -> tuple[int, int]:
    """Which of two copies carry `allele`. Haploid mode: presence is all that counts, so
    `1`, `1/1` and `0/1` all become (1, 1); diploid mode: a haploid call `1` is (1, 1)."""
    if ploidy == 1:
        return (1, 1) if allele in gt else (0, 0)
    if len(gt) == 1:
        return (1, 1) if gt[0] == allele else (0, 0)
    return (int(gt[0] == allele), int(gt[1] == allele))


def read_callset(path: Path, reference: ReferenceGenome, ploidy: int, what: str) -> CallSet:
    """Parse, check and normalise `path`; `what` ("truth"/"query") names it in errors."""
    with VcfReader(Path(path), what) as vcf:
        if not vcf.samples:
            raise ModelshrinkError(
                f"{vcf.name} has no sample column; expected FORMAT/GT and one sample"
            )
        if not vcf.has_gt:
            raise ModelshrinkError(
                f"{vcf.name} has no FORMAT/GT field; genotypes are needed to compare calls"
            )
        if len(vcf.samples) > 1:
            log.warning(
                "%s: %d samples, using the first (%s)", vcf.name, len(vcf.samples), vcf.samples[0]
            )
        callset = CallSet(vcf.path, vcf.samples[0])
        _read_records(vcf, callset, reference, ploidy)
    log.info(
        "%s: %d records, %d variants compared",
        vcf.name,
        callset.records,
        sum(len(v) for v in callset.by_contig.values()),
    )
    if callset.skipped.total:
        log.warning(
            "%s: %d called ALT allele(s) not compared: %s",
            vcf.name,
            callset.skipped.total,
            callset.skipped.describe(),
        )
    return callset


class _RecordChecks:
    """Order, contig and REF checks of consecutive records of one VCF."""

    def __init__(self, vcf: VcfReader, reference: ReferenceGenome) -> None:
        self.vcf, self.reference = vcf, reference
        self.previous: VcfRecord | None = None
        self.finished_contigs: set[str] = set()
        self.mismatches: list[str] = []
        self.mismatch_count = 0

    def in_order(self, record: VcfRecord) -> None:
        previous = self.previous
        if previous is not None and record.contig != previous.contig:
            self.finished_contigs.add(previous.contig)
        if record.contig in self.finished_contigs or (
            previous is not None and record.contig == previous.contig and record.pos < previous.pos
        ):
            raise self.vcf.error(
                record.line,
                f"not sorted ({record.contig}:{record.pos} after "
                f"{previous.contig}:{previous.pos}); sort it with `bcftools sort`",
            )
        self.previous = record

    def on_reference(self, record: VcfRecord) -> bool:
        """Whether REF matches the reference (mismatches are collected for one error)."""
        reference, contig = self.reference, record.contig
        if contig not in reference:
            known = ", ".join(list(reference.lengths)[:5])
            raise self.vcf.error(
                record.line,
                f"contig {contig} is not in reference {reference.path} (it has: {known})",
            )
        length = reference.lengths[contig]
        end = record.pos + len(record.ref) - 1
        if end > length:
            what = (
                f"position {contig}:{record.pos} is"
                if record.pos > length
                else f"REF {record.ref} at {contig}:{record.pos} runs"
            )
            raise self.vcf.error(
                record.line,
                f"{what} past the end of {contig} (length {length} in reference "
                f"{reference.path}); wrong reference?",
            )
        found = reference.sequence(contig)[record.pos - 1 : end]
        if all(a == b or "N" in (a, b) for a, b in zip(found, record.ref, strict=True)):
            return True
        self.mismatch_count += 1
        if len(self.mismatches) < SHOWN_MISMATCHES:
            self.mismatches.append(
                f"{contig}:{record.pos} REF={record.ref} reference={found} (line {record.line})"
            )
        return False

    def raise_mismatches(self) -> None:
        if self.mismatch_count:
            raise ModelshrinkError(
                f"{self.vcf.name}: {self.mismatch_count} REF allele(s) disagree with reference "
                f"{self.reference.path} (wrong reference? to drop them on purpose: "
                f"`bcftools norm -c x -f REFERENCE`); first: {'; '.join(self.mismatches)}"
            )


def _read_records(
    vcf: VcfReader, callset: CallSet, reference: ReferenceGenome, ploidy: int
) -> None:
    checks = _RecordChecks(vcf, reference)
    position: tuple[str, int] | None = None
    seen_here: set[tuple[str, str]] = set()  # (REF, ALT) called at `position` so far
    for index, record in enumerate(vcf):
        callset.records += 1
        checks.in_order(record)
        if (record.contig, record.pos) != position:
            position = (record.contig, record.pos)
            seen_here.clear()
        if not checks.on_reference(record):
            continue
        if ploidy == 2 and len(record.genotype) > 2:
            raise vcf.error(
                record.line,
                f"ploidy {len(record.genotype)}; only haploid and diploid genotypes are supported",
            )
        sequence = reference.sequence(record.contig)
        variants = callset.by_contig.setdefault(record.contig, [])
        for allele_index, alt in enumerate(record.alts, start=1):
            copies = genotype_copies(record.genotype, allele_index, ploidy)
            if copies == (0, 0):
                continue
            reason = _skip_reason(record.ref, alt, seen_here)
            if reason is not None:
                callset.skipped.add(reason, record)
                continue
            seen_here.add((record.ref, alt))
            start = record.pos - 1
            for start_, ref_, alt_, hs, hr, ha, right in normalise_allele(
                sequence, start, record.ref, alt
            ):
                variants.append(
                    Variant(
                        record.contig,
                        start_,
                        ref_,
                        alt_,
                        copies,
                        record.passes,
                        index,
                        hs,
                        hr,
                        ha,
                        right,
                    )
                )
    checks.raise_mismatches()
    for variants in callset.by_contig.values():
        variants.sort(key=lambda v: (v.start, v.end))


def _skip_reason(ref: str, alt: str, seen_here: set[tuple[str, str]]) -> str | None:
    kind = allele_kind(alt)
    if kind == "symbolic":
        return "symbolic"
    if kind == "iupac" or allele_kind(ref) == "iupac":
        return "iupac"
    if (ref, alt) in seen_here:
        return "duplicate"
    return None
