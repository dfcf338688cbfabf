"""Read and assembly identity on small generated sequences with known, injected errors."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from modelshrink import cli
from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.identity import (
    assembly_identity,
    cut_pieces,
    read_identity,
    score_alignments,
    summarise,
)
from modelshrink.evaluate.minimap2 import PafAlignment, align_paf

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def random_dna(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def substitute(sequence: str, positions: list[int]) -> str:
    bases = list(sequence)
    for position in positions:
        bases[position] = {"A": "C", "C": "G", "G": "T", "T": "A"}[bases[position]]
    return "".join(bases)


def delete(sequence: str, positions: list[int]) -> str:
    return "".join(base for i, base in enumerate(sequence) if i not in set(positions))


def write_fasta(path: Path, records: dict[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
    return path


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch):
    """The real CLI entry point, with only this subcommand registered so the test does not
    depend on other subcommands being importable."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"identity": "modelshrink.cli.identity"})
    return cli.main


@pytest.fixture(scope="module")
def reference_genome() -> str:
    return random_dna(40_000, random.Random(7))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, reference_genome: str) -> Path:
    return write_fasta(tmp_path_factory.mktemp("ref") / "ref.fa", {"chr": reference_genome})


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory, reference_genome: str) -> Path:
    """Gzipped FASTQ: each read's true identity is known by construction."""
    rng = random.Random(11)
    spaced = list(range(250, 750, 50))  # 10 positions, far from the read ends
    segment = reference_genome[5_000:6_000]
    records = {
        "exact": reference_genome[1_000:2_000],
        "ten_substitutions": substitute(segment, spaced),
        "reverse_ten_substitutions": substitute(reference_genome[8_000:9_000], spaced).translate(
            COMPLEMENT
        )[::-1],
        "five_deletions": delete(reference_genome[12_000:13_000], spaced[:5]),
        "unmappable": random_dna(1_000, rng),
        "forty_percent_covered": reference_genome[20_000:20_400] + random_dna(600, rng),
        "sixty_percent_covered": reference_genome[25_000:25_600] + random_dna(400, rng),
    }
    path = tmp_path_factory.mktemp("reads") / "reads.fastq.gz"
    with gzip.open(path, "wt") as handle:
        for name, sequence in records.items():
            handle.write(f"@{name}\n{sequence}\n+\n{'5' * len(sequence)}\n")
    return path


@pytest.fixture(scope="module")
def scores(reads: Path, reference: Path) -> dict[str, tuple[int, float, float | None]]:
    return {
        s.name: (s.length, s.identity, s.relative_length) for s in read_identity(reads, reference)
    }


def test_exact_read_has_identity_one(scores: dict) -> None:
    assert scores["exact"] == (1000, pytest.approx(1.0), pytest.approx(1.0))


def test_ten_substitutions_in_1000_bp_give_099_on_both_strands(scores: dict) -> None:
    assert scores["ten_substitutions"][1] == pytest.approx(0.99)
    assert scores["reverse_ten_substitutions"][1] == pytest.approx(0.99)


def test_deletions_count_in_block_length_and_relative_length(scores: dict) -> None:
    length, identity, relative_length = scores["five_deletions"]
    assert length == 995
    assert identity == pytest.approx(995 / 1000)
    assert relative_length == pytest.approx(995 / 1000)


def test_unmappable_read_scores_zero_without_relative_length(scores: dict) -> None:
    assert scores["unmappable"] == (1000, 0.0, None)


def test_read_more_than_half_uncovered_scores_zero(scores: dict) -> None:
    assert scores["forty_percent_covered"][1] == 0.0


def test_identity_is_mean_over_covered_bases_only(scores: dict) -> None:
    assert scores["sixty_percent_covered"][1] == pytest.approx(1.0)


def test_reads_keep_file_order_and_median_counts_zeros(reads: Path, reference: Path) -> None:
    per_read = read_identity(reads, reference)
    assert [s.name for s in per_read][:2] == ["exact", "ten_substitutions"]
    summary = summarise(per_read)
    assert summary.sequences == 7
    assert summary.aligned == 5
    # sorted identities: 0, 0, 0.99, 0.99, 0.995, 1, 1 -> median 0.99
    assert summary.median_identity == pytest.approx(0.99)
    assert summary.mean_identity == pytest.approx((0.99 * 2 + 0.995 + 2.0) / 7)


def test_each_base_takes_best_of_overlapping_alignments() -> None:
    def alignment(start: int, end: int, matches: int, block: int) -> PafAlignment:
        return PafAlignment("r", 100, start, end, 0, end - start, matches, block)

    # bases 0-39 only in the 0.9 alignment, 40-99 best in the 0.95 one
    identity, relative = score_alignments(
        100, [alignment(0, 60, 54, 60), alignment(40, 100, 57, 60)]
    )
    assert identity == pytest.approx((40 * 0.9 + 60 * 0.95) / 100)
    assert relative == pytest.approx(1.0)


def test_assembly_pieces_drop_trailing_partial_piece(
    tmp_path: Path, reference: Path, reference_genome: str
) -> None:
    contig = substitute(reference_genome[:35_000], list(range(2_000, 7_000, 500)))
    assembly = write_fasta(tmp_path / "asm.fa", {"contig_1": contig, "tiny": "ACGT" * 100})
    result = assembly_identity(assembly, reference)
    assert not result.whole_contigs
    assert [p.name for p in result.pieces] == [
        "contig_1:1-10000",
        "contig_1:10001-20000",
        "contig_1:20001-30000",
    ]
    assert [p.identity for p in result.pieces] == pytest.approx([0.999, 1.0, 1.0])
    summary = summarise(result.pieces)
    assert summary.median_identity == pytest.approx(1.0)
    assert summary.mean_identity == pytest.approx(2.999 / 3)


def test_assembly_shorter_than_one_piece_is_scored_whole(
    tmp_path: Path, reference: Path, reference_genome: str
) -> None:
    assembly = write_fasta(tmp_path / "asm.fa", {"short": reference_genome[3_000:9_000]})
    result = assembly_identity(assembly, reference)
    assert result.whole_contigs
    assert [(p.name, p.length, p.identity) for p in result.pieces] == [("short", 6000, 1.0)]


def degrade(sequence: str, error_rate: float, rng: random.Random) -> str:
    """Nanopore-like errors: half substitutions, half deletions, at `error_rate` per base."""
    bases = []
    for base in sequence:
        draw = rng.random()
        if draw < error_rate / 2:
            continue
        if draw < error_rate:
            base = {"A": "C", "C": "G", "G": "T", "T": "A"}[base]
        bases.append(base)
    return "".join(bases)


def test_assembly_identity_degrades_continuously(
    tmp_path: Path, reference: Path, reference_genome: str
) -> None:
    """From a polished-like 98 % to a raw-draft-like 86 %, the piece median and the
    whole-assembly identity fall step by step; asm5 (DESIGN.md's preset) already scores
    the 90 % pieces 0, the cliff that made every miniasm draft read 0."""
    rng = random.Random(3)
    medians, wholes = [], []
    for error_rate in (0.02, 0.06, 0.10, 0.14):
        contig = degrade(reference_genome[:30_000], error_rate, rng)
        assembly = write_fasta(tmp_path / f"asm{error_rate}.fa", {"c": contig})
        result = assembly_identity(assembly, reference)
        medians.append(summarise(result.pieces).median_identity)
        wholes.append(result.whole_identity)
        assert result.whole_aligned_fraction > 0.95
    assert medians == sorted(medians, reverse=True)
    assert wholes == sorted(wholes, reverse=True)
    assert medians[-1] > 0.8
    assert wholes[-1] > 0.8
    assert medians[0] == pytest.approx(0.98, abs=0.01)
    pieces = tmp_path / "pieces90.fa"
    write_fasta(pieces, dict(cut_pieces([("c", degrade(reference_genome, 0.10, rng))])))
    assert not list(align_paf(reference, pieces, "asm5"))


def test_whole_assembly_identity_counts_unaligned_sequence(
    tmp_path: Path, reference: Path, reference_genome: str
) -> None:
    """Junk appended to a perfect contig leaves every full piece at 1.0 (the junk falls in
    the dropped partial piece) but costs the whole-assembly identity its share."""
    junk = random_dna(5_000, random.Random(4))
    assembly = write_fasta(tmp_path / "asm.fa", {"c": reference_genome[:20_000] + junk})
    result = assembly_identity(assembly, reference)
    assert [p.identity for p in result.pieces] == pytest.approx([1.0, 1.0])
    assert result.whole_identity == pytest.approx(0.8, abs=0.005)
    assert result.whole_aligned_fraction == pytest.approx(0.8, abs=0.005)


def test_cut_pieces_handles_exact_multiples() -> None:
    pieces = cut_pieces([("a", "A" * 20), ("b", "C" * 9)], piece_length=10)
    assert [name for name, _ in pieces] == ["a:1-10", "a:11-20"]


def test_cli_writes_per_read_and_summary_tsv(
    main, tmp_path: Path, reads: Path, reference: Path
) -> None:
    out, summary = tmp_path / "out" / "per_read.tsv", tmp_path / "summary.tsv"
    argv = ["identity", "reads", "--reads", str(reads), "--reference", str(reference)]
    assert main([*argv, "--out", str(out), "--summary", str(summary), "--threads", "2"]) == 0
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    header = "name\tlength\tidentity\trelative_length\ttarget\ttarget_start\ttarget_end"
    assert out.read_text().splitlines()[0] == header
    # the best alignment's place on the reference: reference_genome[5_000:6_000]
    assert rows[2] == ["ten_substitutions", "1000", "0.990000", "1.000000", "chr", "5000", "6000"]
    assert rows[5] == ["unmappable", "1000", "0.000000", "NA", "NA", "NA", "NA"]
    header, values = (line.split("\t") for line in summary.read_text().splitlines())
    assert dict(zip(header, values, strict=True))["median_identity"] == "0.990000"
    assert not list(out.parent.glob(".*tmp*"))  # no temporary file left behind


def test_cli_assembly_reports_scored_as(
    main, tmp_path: Path, reference: Path, reference_genome: str
) -> None:
    assembly = write_fasta(tmp_path / "asm.fa", {"c": reference_genome[:20_500]})
    summary = tmp_path / "summary.tsv"
    argv = ["identity", "assembly", "--assembly", str(assembly), "--reference", str(reference)]
    assert main([*argv, "--out", str(tmp_path / "p.tsv"), "--summary", str(summary)]) == 0
    header, values = (line.split("\t") for line in summary.read_text().splitlines())
    fields = dict(zip(header, values, strict=True))
    assert (fields["sequences"], fields["scored_as"], fields["piece_length"]) == (
        "2",
        "pieces",
        "10000",
    )
    assert (fields["whole_identity"], fields["whole_aligned_fraction"]) == ("1.000000", "1.000000")


def test_missing_and_empty_inputs_are_named(tmp_path: Path, reference: Path) -> None:
    with pytest.raises(ModelshrinkError, match=r"reads file .*nope\.fq does not exist"):
        read_identity(tmp_path / "nope.fq", reference)
    empty = tmp_path / "empty.fq"
    empty.write_text("")
    with pytest.raises(ModelshrinkError, match=r"reads file .*empty\.fq is empty"):
        read_identity(empty, reference)
    with pytest.raises(ModelshrinkError, match=r"reference file .*missing\.fa does not exist"):
        read_identity(empty, tmp_path / "missing.fa")


def test_missing_minimap2_names_the_package(
    tmp_path: Path, reads: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ModelshrinkError, match=r"minimap2 not found.*Debian package `minimap2`"):
        read_identity(reads, reference)


def test_cli_prints_error_without_traceback(
    main, tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["identity", "reads", "--reads", str(tmp_path / "x.fq"), "--reference", str(reference)]
    assert main([*argv, "--out", str(tmp_path / "o"), "--summary", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_real_read_references_are_identical_to_the_genome(shared_data: Path) -> None:
    taiyaki = shared_data / "taiyaki"
    per_read = read_identity(
        taiyaki / "per_read_references.fasta", taiyaki / "genomic_reference.fasta"
    )
    assert len(per_read) == 3
    assert [s.identity for s in per_read] == pytest.approx([1.0, 1.0, 1.0])  # exact snippets
