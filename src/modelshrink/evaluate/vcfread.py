"""Reading a truth or query VCF into normalised variants, with the input checks users need.

Checked before any comparison: the file exists and parses, has a sample column, is sorted
(records are streamed, so no index is needed, but order is), every contig is in the
reference, and REF alleles agree with the reference (the first few disagreements are
listed). Each problem is one ModelshrinkError naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.reference import ReferenceGenome
from modelshrink.evaluate.variants import Variant, normalise_allele

log = logging.getLogger(__name__)

SHOWN_MISMATCHES = 5


@dataclass
class CallSet:
    """Normalised variants of one VCF, per contig in reference order of appearance."""

    path: Path
    sample: str
    by_contig: dict[str, list[Variant]] = field(default_factory=dict)
    records: int = 0

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


def _is_pass(record) -> bool:  # pysam.VariantRecord
    filters = list(record.filter.keys())
    return not filters or filters == ["PASS"]


def read_callset(path: Path, reference: ReferenceGenome, ploidy: int, what: str) -> CallSet:
    """Parse, check and normalise `path`; `what` ("truth"/"query") names it in errors."""
    import pysam

    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"{what} VCF {path} does not exist")
    try:
        vcf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as error:
        raise ModelshrinkError(f"{what} VCF {path} is not a readable VCF/BCF: {error}") from error
    with vcf:
        samples = list(vcf.header.samples)
        if not samples:
            raise ModelshrinkError(
                f"{what} VCF {path} has no sample column; expected FORMAT/GT and one sample"
            )
        if "GT" not in vcf.header.formats:
            raise ModelshrinkError(
                f"{what} VCF {path} has no FORMAT/GT field; genotypes are needed to compare calls"
            )
        if len(samples) > 1:
            log.warning(
                "%s VCF %s: %d samples, using the first (%s)", what, path, len(samples), samples[0]
            )
        callset = CallSet(path, samples[0])
        _read_records(vcf, callset, reference, ploidy, what)
    return callset


def _read_records(
    vcf, callset: CallSet, reference: ReferenceGenome, ploidy: int, what: str
) -> None:
    path, sample = callset.path, callset.sample
    missing_contigs: list[str] = []
    mismatches: list[str] = []
    mismatch_count = 0
    previous: tuple[str, int] | None = None
    finished_contigs: set[str] = set()
    try:
        for index, record in enumerate(vcf):
            callset.records += 1
            contig, start = record.chrom, record.start
            if previous is not None and contig != previous[0]:
                finished_contigs.add(previous[0])
            if contig in finished_contigs or (
                previous is not None and contig == previous[0] and start < previous[1]
            ):
                raise ModelshrinkError(
                    f"{what} VCF {path} is not sorted ({contig}:{start + 1} after "
                    f"{previous[0]}:{previous[1] + 1}); sort it with `bcftools sort`"
                )
            previous = (contig, start)
            if contig not in reference:
                if contig not in missing_contigs:
                    missing_contigs.append(contig)
                continue
            sequence = reference.sequence(contig)
            ref = (record.ref or "").upper()
            if not _ref_agrees(sequence, start, ref):
                mismatch_count += 1
                if len(mismatches) < SHOWN_MISMATCHES:
                    found = sequence[start : start + len(ref)]
                    mismatches.append(f"{contig}:{start + 1} REF={ref} reference={found}")
                continue
            gt = record.samples[sample].get("GT") or ()
            if ploidy == 2 and len(gt) > 2:
                raise ModelshrinkError(
                    f"{what} VCF {path}: {contig}:{start + 1} has ploidy {len(gt)}; "
                    "only haploid and diploid genotypes are supported"
                )
            variants = callset.by_contig.setdefault(contig, [])
            for allele_index, alt in enumerate(record.alts or (), start=1):
                copies = genotype_copies(gt, allele_index, ploidy)
                if copies == (0, 0) or not _is_plain_allele(alt):
                    continue
                for start_, ref_, alt_, hs, hr, ha, right in normalise_allele(
                    sequence, start, ref, alt.upper()
                ):
                    variants.append(
                        Variant(
                            contig,
                            start_,
                            ref_,
                            alt_,
                            copies,
                            _is_pass(record),
                            index,
                            hs,
                            hr,
                            ha,
                            right,
                        )
                    )
    except (OSError, ValueError) as error:
        raise ModelshrinkError(f"{what} VCF {path} could not be parsed: {error}") from error
    if missing_contigs:
        known = ", ".join(list(reference.lengths)[:5])
        raise ModelshrinkError(
            f"{what} VCF {path}: contig(s) {', '.join(missing_contigs[:5])} not in reference "
            f"{reference.path} (reference has: {known})"
        )
    if mismatch_count:
        raise ModelshrinkError(
            f"{what} VCF {path}: {mismatch_count} REF allele(s) disagree with reference "
            f"{reference.path}; first: {'; '.join(mismatches)}"
        )
    for variants in callset.by_contig.values():
        variants.sort(key=lambda v: (v.start, v.end))


def _ref_agrees(sequence: str, start: int, ref: str) -> bool:
    found = sequence[start : start + len(ref)]
    if len(found) != len(ref):
        return False
    return all(a == b or a == "N" or b == "N" for a, b in zip(found, ref, strict=True))


def _is_plain_allele(alt: str) -> bool:
    """Sequence alleles only: symbolic (<DEL>), breakends and `*` are not small variants."""
    return bool(alt) and set(alt.upper()) <= set("ACGTN")
