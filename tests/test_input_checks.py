"""Sniffing the files a sample sheet names: each kind accepted, each mistake named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from modelshrink.errors import ModelshrinkError
from modelshrink.workflow.sample_files import (
    check_fasta,
    check_reads,
    check_sample_files,
    check_vcf,
    is_bgzf,
)

VCF = (
    "##fileformat=VCFv4.2\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "c\t3\t.\tG\tA\t50\tPASS\t.\n"
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "truth.vcf").write_text(VCF)
    pysam.tabix_compress(str(tmp_path / "truth.vcf"), str(tmp_path / "truth.vcf.gz"))
    with gzip.open(tmp_path / "plain.vcf.gz", "wt") as handle:
        handle.write(VCF)
    (tmp_path / "reference.fasta").write_text("\n>c\nACGTACGT\n")
    with gzip.open(tmp_path / "reference.fasta.gz", "wt") as handle:
        handle.write(">c\nACGTACGT\n")
    (tmp_path / "runs" / "a" / "b").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "b" / "reads.fast5").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    (tmp_path / "reads.fastq").write_text("@r\nACGT\n+\n!!!!\n")
    return tmp_path


def test_accepted_files_pass(files: Path) -> None:
    assert is_bgzf(files / "truth.vcf.gz") and not is_bgzf(files / "plain.vcf.gz")
    check_vcf(files / "truth.vcf.gz")
    check_vcf(files / "truth.vcf")
    check_fasta(files / "reference.fasta")
    check_reads(files / "runs")
    check_reads(files / "runs" / "a" / "b" / "reads.fast5")
    check_sample_files({"reads": str(files / "runs"), "reference": str(files / "reference.fasta")})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"truth_vcf": "plain.vcf.gz"},
            r"^truth_vcf \S+plain\.vcf\.gz is compressed with plain gzip; expected bgzip",
        ),
        (
            {"truth_vcf": "reference.fasta"},
            r"^truth_vcf \S+ is not VCF: it starts '>c'; expected a VCF whose first line is "
            r"'##fileformat=VCFv4\.x'$",
        ),
        (
            {"reference": "truth.vcf.gz"},
            r"^reference \S+truth\.vcf\.gz is gzipped; expected an uncompressed FASTA",
        ),
        (
            {"reference": "reference.fasta.gz"},
            r"^reference \S+ is gzipped; expected an uncompressed FASTA \(gunzip it\)$",
        ),
        (
            {"reference": "truth.vcf"},
            r"^reference \S+ is not FASTA: it starts '##fileformat=VCFv4\.2'; expected a FASTA",
        ),
        ({"reference": "runs"}, r"^reference \S+runs is not readable: Is a directory$"),
        (
            {"reads": "empty"},
            r"^reads \S+empty holds no \.fast5 or \.pod5 file \(searched recursively\); "
            r"expected a \.fast5 or \.pod5 file or a folder of them$",
        ),
        ({"reads": "reads.fastq"}, r"^reads \S+reads\.fastq is neither \.fast5 nor \.pod5;"),
        ({"reads": "nowhere.pod5"}, r"^reads path \S+nowhere\.pod5 does not exist$"),
    ],
)
def test_mistakes_name_the_column_and_file(files: Path, row: dict[str, str], message: str) -> None:
    with pytest.raises(ModelshrinkError, match=message):
        check_sample_files({column: str(files / name) for column, name in row.items()})
