"""The workflow's nanopolish glue scripts, run for real on simulated R9.4.1 reads.

The reads' true sequences stand in for basecalls, so no basecaller runs here; the
signal nanopolish aligns them to is the simulator's.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from modelshrink.cli import main
from modelshrink.simulate.truth import read_truth_table

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("nanopolish", "minimap2", "samtools", "bcftools")),
    reason="nanopolish, minimap2, samtools and bcftools are needed",
)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reference, truth VCF, fast5 reads, their true sequences as FASTQ and its index."""
    folder = tmp_path_factory.mktemp("nanopolish")
    steps = [
        ["genome", "-o", f"{folder}/ref.fa", "--length", "8000", "--seed", "5"],
        ["variants", "--reference", f"{folder}/ref.fa", "--vcf", f"{folder}/truth.vcf.gz",
         "--sample-fasta", f"{folder}/sample.fa", "--snps", "12", "--indels", "0"],
        ["reads", "--genome", f"{folder}/sample.fa", "--coverage", "10", "--mean-length", "2000",
         "--length-sd", "500", "--min-length", "1000", "--seed", "6",
         "--fast5", f"{folder}/raw/reads.fast5", "--truth", f"{folder}/truth.tsv"],
    ]  # fmt: skip
    (folder / "raw").mkdir()
    for step in steps:
        assert main(["simulate", *step]) == 0
    records = read_truth_table(folder / "truth.tsv")
    fastq = folder / "reads.fastq.gz"
    with gzip.open(fastq, "wt") as handle:
        handle.writelines(
            f"@{r.read_id}\n{r.sequence}\n+\n{'5' * len(r.sequence)}\n" for r in records
        )
    subprocess.run(
        [SCRIPTS / "nanopolish_index.sh", folder / "raw" / "reads.fast5", fastq],
        check=True,
        capture_output=True,
    )
    return folder


def test_index_finds_a_single_fast5_file_through_its_folder(indexed: Path) -> None:
    readdb = Path(f"{indexed}/reads.fastq.gz.index.readdb").read_text().splitlines()
    mapping = dict(line.split("\t") for line in readdb)
    assert set(mapping) == {r.read_id for r in read_truth_table(indexed / "truth.tsv")}
    assert {Path(path).name for path in mapping.values()} == {"reads.fast5"}


def test_haploid_calls_have_contig_headers_and_find_the_truth(indexed: Path) -> None:
    reference, bam = indexed / "ref.fa", indexed / "reads.bam"
    subprocess.run(["samtools", "faidx", reference], check=True)
    aligned = subprocess.run(
        ["minimap2", "-ax", "map-ont", reference, indexed / "reads.fastq.gz"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["samtools", "sort", "-o", bam, "-"], input=aligned, check=True)
    subprocess.run(["samtools", "index", bam], check=True)
    calls = indexed / "calls.vcf.gz"
    subprocess.run(
        [SCRIPTS / "nanopolish_call.sh", reference, indexed / "reads.fastq.gz", bam, calls,
         "2", "5000", "3"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    header = subprocess.run(
        ["bcftools", "view", "-h", calls], check=True, capture_output=True, text=True
    ).stdout
    assert "##contig=<ID=contig_1,length=8000>" in header

    def sites(path: Path) -> set[tuple[int, str, str]]:
        query = ["bcftools", "query", "-f", "%POS\t%REF\t%ALT\n", path]
        text = subprocess.run(query, check=True, capture_output=True, text=True).stdout
        return {(int(p), r, a) for p, r, a in (line.split("\t") for line in text.splitlines())}

    truth, called = sites(indexed / "truth.vcf.gz"), sites(calls)
    assert len(truth) == 12
    # two 5 kb windows, concatenated and sorted: most true SNPs found, few false ones
    assert len(truth & called) >= 9
    assert len(called - truth) <= 3
