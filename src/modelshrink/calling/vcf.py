"""Haploid calls as a bgzipped VCF (GT 1), written atomically.

INFO carries the evidence the rules used (AF, per-strand SF), FORMAT the usual AD/DP,
so a call can be checked against its thresholds without rerunning the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from modelshrink.atomic import atomic_output
from modelshrink.calling.haploid import Call, HaploidRules

if TYPE_CHECKING:
    import pysam


def _header(contigs: Mapping[str, int], sample: str, rules: HaploidRules) -> pysam.VariantHeader:
    import pysam

    header = pysam.VariantHeader()
    header.add_line(
        "##source=modelshrink call (haploid; "
        f"min_mapq={rules.min_mapq} min_depth={rules.min_depth} "
        f"min_snp_fraction={rules.min_snp_fraction} "
        f"min_indel_fraction={rules.min_indel_fraction} "
        f"min_strand_fraction={rules.min_strand_fraction} "
        f"homopolymer_limit={rules.homopolymer_limit})"
    )
    for name, length in contigs.items():
        header.contigs.add(name, length=length)
    header.add_meta(
        "INFO",
        items=[
            ("ID", "AF"),
            ("Number", "A"),
            ("Type", "Float"),
            ("Description", "Fraction of spanning reads carrying the allele"),
        ],
    )
    header.add_meta(
        "INFO",
        items=[
            ("ID", "SF"),
            ("Number", "2"),
            ("Type", "Float"),
            ("Description", "Fraction of forward, reverse strand reads carrying the allele"),
        ],
    )
    header.add_meta(
        "FORMAT",
        items=[("ID", "GT"), ("Number", "1"), ("Type", "String"), ("Description", "Genotype")],
    )
    header.add_meta(
        "FORMAT",
        items=[
            ("ID", "AD"),
            ("Number", "R"),
            ("Type", "Integer"),
            ("Description", "Spanning reads without, with the allele"),
        ],
    )
    header.add_meta(
        "FORMAT",
        items=[
            ("ID", "DP"),
            ("Number", "1"),
            ("Type", "Integer"),
            ("Description", "Reads spanning the allele"),
        ],
    )
    header.add_sample(sample)
    return header


def write_calls_vcf(
    path: Path,
    calls: Iterable[Call],
    contigs: Mapping[str, int],
    rules: HaploidRules,
    sample: str = "sample",
) -> int:
    """Write `calls` (already in contig order) to `path` (bgzipped); return how many."""
    import pysam

    header = _header(contigs, sample, rules)
    written = 0
    with (
        atomic_output(path, suffix=".vcf.gz") as temporary,
        pysam.VariantFile(str(temporary), "wz", header=header) as vcf,
    ):
        for call in calls:
            depth = sum(call.depth)
            carried = call.forward + call.reverse
            record = vcf.new_record(
                contig=call.contig,
                start=call.allele.position,
                alleles=(call.allele.ref, call.allele.alt),
                filter="PASS",
            )
            record.info["AF"] = round(call.fraction, 4)
            record.info["SF"] = tuple(
                round(value, 4) if value is not None else None for value in call.strand_fractions
            )
            record.samples[sample]["GT"] = (1,)
            record.samples[sample]["AD"] = (max(0, depth - carried), carried)
            record.samples[sample]["DP"] = depth
            vcf.write(record)
            written += 1
    return written
