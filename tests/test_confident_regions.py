"""evaluation.confident_regions: the builtin evaluator restricts its counts to the BED
(`modelshrink evaluate -f`), on the real Salmonella reference of Taiyaki's test data."""

from __future__ import annotations

import csv
from pathlib import Path

import pysam
import pytest

from modelshrink.cli import main

TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID={contig},length={length}>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsample\n"
)


def write_vcf(path: Path, reference: pysam.FastaFile, contig: str, positions: list[int]) -> None:
    """Haploid SNPs (transitions of the real reference base) at 1-based `positions`."""
    lines = [HEADER.format(contig=contig, length=reference.get_reference_length(contig))]
    for position in positions:
        base = reference.fetch(contig, position - 1, position).upper()
        lines.append(f"{contig}\t{position}\t.\t{base}\t{TRANSITION[base]}\t50\tPASS\t.\tGT\t1\n")
    path.write_text("".join(lines))


def snp_row(prefix: Path) -> dict[str, str]:
    with open(f"{prefix}.summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return next(row for row in rows if row["Type"] == "SNP" and row["Filter"] == "ALL")


@pytest.fixture()
def real_reference(shared_data: Path, tmp_path: Path) -> Path:
    fasta = tmp_path / "genomic_reference.fasta"
    fasta.write_bytes((shared_data / "taiyaki" / "genomic_reference.fasta").read_bytes())
    pysam.faidx(str(fasta))
    return fasta


def test_builtin_evaluator_counts_only_inside_the_confident_regions(
    real_reference: Path, tmp_path: Path
) -> None:
    reference = pysam.FastaFile(str(real_reference))
    contig = reference.references[0]
    truth, query = tmp_path / "truth.vcf", tmp_path / "query.vcf"
    # truth: 6 SNPs, 3 in [0, 1000) and 3 beyond; the query finds 2 inside and 2 outside
    # and adds one false call on each side
    write_vcf(truth, reference, contig, [100, 400, 700, 1500, 1800, 2100])
    write_vcf(query, reference, contig, [100, 400, 900, 1500, 1800, 2500])
    bed = tmp_path / "confident.bed"
    bed.write_text(f"{contig}\t0\t1000\n")
    common = [str(truth), str(query), "-r", str(real_reference), "--ploidy", "1"]

    assert main(["evaluate", *common, "-o", str(tmp_path / "whole")]) == 0
    assert main(["evaluate", *common, "-o", str(tmp_path / "bed"), "-f", str(bed)]) == 0

    whole, inside = snp_row(tmp_path / "whole"), snp_row(tmp_path / "bed")
    assert [whole[k] for k in ("TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.FP")] == [
        "6",
        "4",
        "2",
        "2",
    ]
    # only the first 1000 bases count: truth 3 (TP 2, FN 1), one FP; outside calls are UNK
    assert [inside[k] for k in ("TRUTH.TOTAL", "TRUTH.TP", "TRUTH.FN", "QUERY.FP")] == [
        "3",
        "2",
        "1",
        "1",
    ]
    assert inside["QUERY.UNK"] == "3"
