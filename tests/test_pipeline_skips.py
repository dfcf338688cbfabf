"""What the pipeline skips, counted: racon windows left unpolished and reads or bases the
callers cannot use. Real racon, minimap2 and samtools on small generated data, through
the workflow's own scripts, then the summary columns that report them."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pysam
import pytest

from modelshrink.report import summary

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("racon", "minimap2", "samtools")),
    reason="needs racon, minimap2 and samtools on PATH",
)


def random_dna(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def with_errors(sequence: str, rate: float, rng: random.Random) -> str:
    return "".join(
        rng.choice("ACGT") if rng.random() < rate else base
        for base in sequence
        if rng.random() >= rate / 2
    )


def write_fastq(path: Path, reads: list[str], quality: str) -> Path:
    path.write_text(
        "".join(f"@r{i}\n{read}\n+\n{quality * len(read)}\n" for i, read in enumerate(reads))
    )
    return path


@pytest.fixture(scope="module")
def genome() -> str:
    return random_dna(6000, random.Random(1))


@pytest.fixture(scope="module")
def draft(tmp_path_factory: pytest.TempPathFactory, genome: str) -> Path:
    path = tmp_path_factory.mktemp("draft") / "draft.fasta"
    path.write_text(f">utg1\n{with_errors(genome, 0.08, random.Random(2))}\n")
    return path


def reads_over_first_half(genome: str) -> list[str]:
    """Twelve 2.5 kb reads, all inside the first 3 kb: the second half has none."""
    rng = random.Random(3)
    return [with_errors(genome[s : s + 2500], 0.06, rng) for s in rng.choices(range(500), k=12)]


def racon_round(draft: Path, reads: Path, quality: int, folder: Path) -> Path:
    out = folder / f"racon_q{quality}.fasta"
    subprocess.run(
        [SCRIPTS / "racon_round.sh", draft, reads, folder / "o.paf", out, "1", str(quality)],
        check=True,
        capture_output=True,
    )
    return out


def test_racon_unpolished_fraction_counts_windows_without_reads(
    tmp_path: Path, genome: str, draft: Path
) -> None:
    reads = write_fastq(tmp_path / "reads.fastq", reads_over_first_half(genome), "5")
    fraction = summary.racon_unpolished_fraction(racon_round(draft, reads, -1, tmp_path))
    assert fraction == pytest.approx(0.5, abs=0.1)


def test_racon_quality_threshold_skips_every_window_of_slightly_worse_reads(
    tmp_path: Path, genome: str, draft: Path
) -> None:
    """Reads of Q9 against racon's default -q 10: nothing is polished, and the column
    says so; with -q -1 the same reads polish their half."""
    reads = write_fastq(tmp_path / "reads.fastq", reads_over_first_half(genome), "*")  # Q9
    assert summary.racon_unpolished_fraction(racon_round(draft, reads, 10, tmp_path)) == 1.0
    assert summary.racon_unpolished_fraction(
        racon_round(draft, reads, -1, tmp_path)
    ) == pytest.approx(0.5, abs=0.1)


def test_racon_unpolished_fraction_is_none_without_racon_tags(tmp_path: Path) -> None:
    plain = tmp_path / "plain.fasta"
    plain.write_text(">contig\nACGT\n")
    empty = tmp_path / "empty.fasta"
    empty.write_text("")
    assert summary.racon_unpolished_fraction(plain) is None
    assert summary.racon_unpolished_fraction(empty) is None
    assert summary.racon_unpolished_fraction(None) is None


@pytest.fixture(scope="module")
def repeat_alignments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 kb reference whose 3 kb segment is repeated; 10 reads inside the second copy
    (MAPQ 0: they fit both copies equally) and 10 in unique sequence."""
    rng = random.Random(4)
    segment = random_dna(3000, rng)
    reference = random_dna(3000, rng) + segment + random_dna(3000, rng) + segment
    folder = tmp_path_factory.mktemp("usage")
    (folder / "ref.fa").write_text(f">chr\n{reference}\n")
    reads = [reference[9200:11800]] * 10 + [reference[300:2900]] * 10
    write_fastq(folder / "reads.fq", reads, "5")
    sam = subprocess.run(
        ["minimap2", "-ax", "map-ont", str(folder / "ref.fa"), str(folder / "reads.fq")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (folder / "reads.sam").write_text(sam)
    pysam.sort("-o", str(folder / "reads.bam"), str(folder / "reads.sam"))
    pysam.index(str(folder / "reads.bam"))
    return folder / "reads.bam"


def calling_usage(bam: Path, min_mapq: int, min_depth: int, out: Path) -> dict[str, str]:
    subprocess.run(
        [SCRIPTS / "calling_usage.sh", bam, str(min_mapq), str(min_depth), out],
        check=True,
        capture_output=True,
    )
    header, values = (line.split("\t") for line in out.read_text().splitlines())
    return dict(zip(header, values, strict=True))


def test_calling_usage_counts_reads_below_the_mapping_quality(
    tmp_path: Path, repeat_alignments: Path
) -> None:
    usage = calling_usage(repeat_alignments, 20, 5, tmp_path / "usage.tsv")
    assert (usage["mapped_reads"], usage["reads_used"], usage["reads_used_fraction"]) == (
        "20",
        "10",
        "0.500000",
    )
    # the 10 unique reads cover 300-2900 of 12000 bases
    assert float(usage["callable_fraction"]) == pytest.approx(2600 / 12000, abs=0.01)
    everything = calling_usage(repeat_alignments, 0, 5, tmp_path / "all.tsv")
    assert everything["reads_used_fraction"] == "1.000000"
    assert float(everything["callable_fraction"]) == pytest.approx(5200 / 12000, abs=0.01)
    too_deep = calling_usage(repeat_alignments, 0, 11, tmp_path / "deep.tsv")
    assert too_deep["callable_fraction"] == "0.000000"


def test_summary_reports_what_was_skipped(
    tmp_path: Path, genome: str, draft: Path, repeat_alignments: Path
) -> None:
    reads = write_fastq(tmp_path / "reads.fastq", reads_over_first_half(genome), "5")
    racon = racon_round(draft, reads, -1, tmp_path)
    calling_usage(repeat_alignments, 20, 5, tmp_path / "usage.tsv")
    stats = {"bytes": 10, "parameters": 5, "nonzero_parameters": 5}
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    (tmp_path / "speed.tsv").write_text("samples_per_second\tmedian_read_qscore\n100\t7.1\n")
    (tmp_path / "reads.tsv").write_text("sequences\tmedian_identity\n20\t0.9\n")
    (tmp_path / "timing.tsv").write_text(
        "variant\texecution_path\tsamples_per_second\noriginal\tfloat32\t100\n"
    )
    (tmp_path / "asm.tsv").write_text(
        "sequences\tmedian_identity\twhole_identity\n1\t0.97\t0.955\n"
    )
    entry = {
        "variant": "original",
        "sample": "demo",
        "stats": tmp_path / "stats.json",
        "speed": tmp_path / "speed.tsv",
        "timing": tmp_path / "timing.tsv",
        "read_identity": tmp_path / "reads.tsv",
        "assembly_draft": tmp_path / "asm.tsv",
        "assembly_polished": tmp_path / "asm.tsv",
        "racon": racon,
        "calling_usage": tmp_path / "usage.tsv",
    }
    row = summary.summary_row(entry, 10, baseline=None, resamples=10)
    assert row["assembly_identity_whole_polished"] == 0.955
    assert row["racon_unpolished_fraction"] == pytest.approx(0.5, abs=0.1)
    assert row["reads_used_for_calling"] == 0.5
    assert row["callable_fraction"] == pytest.approx(2600 / 12000, abs=0.01)
