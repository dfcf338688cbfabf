"""The haploid allele-fraction caller on reads simulated from a genome with known variants,
aligned with minimap2: each rule (fraction, strand, homopolymer, depth) is exercised by
a variant or an error placed to hit it."""

from __future__ import annotations

import gzip
import random
import subprocess
from pathlib import Path

import pysam
import pytest

from modelshrink import cli
from modelshrink.calling.haploid import HaploidRules, call_contigs, homopolymer_run
from modelshrink.calling.pileup import Allele, leftmost_deletion, leftmost_insertion
from modelshrink.errors import ModelshrinkError

COMPLEMENT = str.maketrans("ACGT", "TGCA")
HOMOPOLYMER_AT = 2000  # a C, then a 6-base A run in the reference


def random_dna(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def reverse_complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def mutate(sequence: str, rate: float, rng: random.Random) -> str:
    """Random substitutions at `rate` (random errors: no two reads share many)."""
    bases = list(sequence)
    for i in range(len(bases)):
        if rng.random() < rate:
            bases[i] = rng.choice([b for b in "ACGT" if b != bases[i]])
    return "".join(bases)


def unshiftable_site(reference: str, start: int, changed_length: int) -> int:
    """The first position from `start` where an indel of `changed_length` bases right after
    the anchor cannot slide left (so its left-aligned form is the one written here)."""
    position = start
    while reference[position - 1] == reference[position + changed_length - 1]:
        position += 1
    return position


@pytest.fixture(scope="module")
def genomes() -> tuple[str, str, dict[str, Allele]]:
    """Reference, the haploid sample genome, and the sample's true variants by kind."""
    rng = random.Random(11)
    reference = random_dna(4000, rng)
    reference = reference[:HOMOPOLYMER_AT] + "C" + "AAAAAA" + "G" + reference[HOMOPOLYMER_AT + 8 :]
    snp_at = 800
    deletion_at = unshiftable_site(reference, 3000, 3)
    insertion_at = 1500
    inserted = next(
        motif for motif in ("TGCA", "GTAC", "CATG") if motif[-1] != reference[insertion_at - 1]
    )
    snp_base = next(b for b in "ACGT" if b != reference[snp_at])
    variants = {
        "snp": Allele(snp_at, reference[snp_at], snp_base),
        "insertion": Allele(
            insertion_at - 1, reference[insertion_at - 1], reference[insertion_at - 1] + inserted
        ),
        "deletion": Allele(
            deletion_at - 1,
            reference[deletion_at - 1 : deletion_at + 3],
            reference[deletion_at - 1],
        ),
        "homopolymer": Allele(HOMOPOLYMER_AT, "CA", "C"),
    }
    sample = reference
    for allele in sorted(variants.values(), key=lambda a: a.position, reverse=True):
        sample = (
            sample[: allele.position] + allele.alt + sample[allele.position + len(allele.ref) :]
        )
    return reference, sample, variants


STRAND_ERROR_AT = 2600  # sample coordinate; forward reads always misread it, reverse 1 in 5


def simulate_reads(sample: str, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Reads of 1.5-2.5 kb, alternating strands, 2 % random substitutions, plus one
    strand-specific systematic error at STRAND_ERROR_AT."""
    reads = []
    for number in range(count):
        length = rng.randint(1500, 2500)
        start = rng.randint(0, len(sample) - length)
        forward = number % 2 == 0
        sequence = mutate(sample[start : start + length], 0.02, rng)
        if start <= STRAND_ERROR_AT < start + length and (forward or number % 10 == 1):
            offset = STRAND_ERROR_AT - start
            wrong = "A" if sample[STRAND_ERROR_AT] != "A" else "C"
            sequence = sequence[:offset] + wrong + sequence[offset + 1 :]
        reads.append((f"read{number}", sequence if forward else reverse_complement(sequence)))
    return reads


@pytest.fixture(scope="module")
def alignments(
    tmp_path_factory: pytest.TempPathFactory, genomes: tuple[str, str, dict[str, Allele]]
) -> tuple[Path, Path]:
    reference, sample, _ = genomes
    folder = tmp_path_factory.mktemp("caller")
    reference_fasta = folder / "ref.fa"
    reference_fasta.write_text(f">chr\n{reference}\n")
    reads_fasta = folder / "reads.fa"
    reads = simulate_reads(sample, 80, random.Random(5))
    reads_fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in reads))
    sam = subprocess.run(
        ["minimap2", "-ax", "map-ont", str(reference_fasta), str(reads_fasta)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (folder / "reads.sam").write_text(sam)
    bam = folder / "reads.bam"
    pysam.sort("-o", str(bam), str(folder / "reads.sam"))
    pysam.index(str(bam))
    return reference_fasta, bam


def called(bam: Path, reference: str, rules: HaploidRules) -> tuple[set[Allele], int]:
    calls, tally = call_contigs(bam, [("chr", reference)], rules)
    return {call.allele for call in calls}, tally.homopolymer_indels_skipped


def test_true_variants_are_called_and_errors_are_not(
    alignments: tuple[Path, Path], genomes: tuple[str, str, dict[str, Allele]]
) -> None:
    _, bam = alignments
    reference, _, variants = genomes
    alleles, skipped = called(bam, reference, HaploidRules())
    assert alleles == {variants["snp"], variants["insertion"], variants["deletion"]}
    assert skipped == 1  # the homopolymer deletion passed every other rule


def test_homopolymer_limit_zero_calls_homopolymer_indels(
    alignments: tuple[Path, Path], genomes: tuple[str, str, dict[str, Allele]]
) -> None:
    _, bam = alignments
    reference, _, variants = genomes
    alleles, skipped = called(bam, reference, HaploidRules(homopolymer_limit=0))
    assert variants["homopolymer"] in alleles
    assert skipped == 0
    assert called(bam, reference, HaploidRules(homopolymer_limit=7))[0] >= {variants["homopolymer"]}


def test_strand_rule_rejects_a_strand_specific_error(
    alignments: tuple[Path, Path], genomes: tuple[str, str, dict[str, Allele]]
) -> None:
    """The systematic error is in all forward and 1 in 5 reverse reads: about 0.6 of all
    reads, above the SNP fraction, so only the strand rule keeps it out."""
    _, bam = alignments
    reference, _, variants = genomes
    shift = sum(len(a.alt) - len(a.ref) for a in variants.values() if a.position < STRAND_ERROR_AT)
    error_at = STRAND_ERROR_AT - shift
    without_strand_rule, _ = called(bam, reference, HaploidRules(min_strand_fraction=0.0))
    with_strand_rule, _ = called(bam, reference, HaploidRules())
    strand_errors = {a for a in without_strand_rule if a.position == error_at}
    assert len(strand_errors) == 1
    assert not strand_errors & with_strand_rule


def test_depth_and_fraction_thresholds(
    alignments: tuple[Path, Path], genomes: tuple[str, str, dict[str, Allele]]
) -> None:
    _, bam = alignments
    reference, _, _ = genomes
    assert called(bam, reference, HaploidRules(min_depth=1000))[0] == set()
    everything, _ = called(
        bam,
        reference,
        HaploidRules(min_snp_fraction=0.0, min_indel_fraction=0.0, min_strand_fraction=0),
    )
    assert len(everything) > 1000  # every random error is an allele; the rules remove them
    assert called(bam, reference, HaploidRules(min_mapq=61))[0] == set()


def test_cli_writes_a_vcf_that_matches_the_truth(
    alignments: tuple[Path, Path],
    genomes: tuple[str, str, dict[str, Allele]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"call": "modelshrink.cli.call"})
    reference_fasta, bam = alignments
    _, _, variants = genomes
    vcf = tmp_path / "calls.vcf.gz"
    code = cli.main(
        ["call", "--bam", str(bam), "--reference", str(reference_fasta), "--vcf", str(vcf)]
    )
    assert code == 0
    with gzip.open(vcf, "rt") as handle:
        records = [line.split("\t") for line in handle if not line.startswith("#")]
    written = {(int(f[1]) - 1, f[3], f[4]) for f in records}
    expected = {(a.position, a.ref, a.alt) for k, a in variants.items() if k != "homopolymer"}
    assert written == expected
    for fields in records:
        assert fields[9].startswith("1:")  # haploid GT
        assert float(dict(i.split("=") for i in fields[7].split(";"))["AF"]) >= 0.5


def test_cli_refuses_a_fraction_above_one(
    alignments: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"call": "modelshrink.cli.call"})
    reference_fasta, bam = alignments
    code = cli.main(
        [
            *("call", "--bam", str(bam), "--reference", str(reference_fasta)),
            *("--vcf", "x.vcf.gz", "--min-indel-fraction", "1.5"),
        ]
    )
    assert code == 1
    assert "--min-indel-fraction must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_unindexed_bam_is_a_clear_error(tmp_path: Path) -> None:
    bam = tmp_path / "x.bam"
    bam.write_bytes(b"not a bam")
    with pytest.raises(ModelshrinkError, match=r"x\.bam: expected a sorted, indexed BAM"):
        call_contigs(bam, [("chr", "ACGT")], HaploidRules())


def test_left_alignment_and_homopolymer_runs() -> None:
    sequence = "GCAAAAAT"
    assert leftmost_deletion(sequence, 5, 1) == 2  # any A of the run -> its first A
    assert leftmost_insertion(sequence, 6, "A") == (2, "A")
    assert leftmost_insertion("GCATATG", 5, "TA") == (2, "AT")  # through the AT repeat
    assert homopolymer_run(sequence, Allele(1, "CA", "C")) == 5
    assert homopolymer_run(sequence, Allele(1, "C", "CAA")) == 5
    assert homopolymer_run(sequence, Allele(1, "C", "CAT")) == 0  # changes more than the run
    assert homopolymer_run(sequence, Allele(3, "A", "G")) == 0  # SNP
