"""Reference genome and truth variants: determinism, bad input, and the VCF judged by bcftools."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from modelshrink.cli import main
from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.genome import acgt_segments, random_genome, read_fasta
from modelshrink.simulate.genomic_variants import Variant, apply_variants, simulate_variants

needs_bcftools = pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not on PATH")


def test_random_genome_is_seeded_and_has_requested_gc() -> None:
    first = random_genome(40_000, 0.6, np.random.default_rng(7), contigs=2)
    again = random_genome(40_000, 0.6, np.random.default_rng(7), contigs=2)
    other = random_genome(40_000, 0.6, np.random.default_rng(8), contigs=2)
    assert first == again != other
    assert list(first) == ["contig_1", "contig_2"]
    sequence = "".join(first.values())
    assert len(sequence) == 40_000
    assert abs((sequence.count("G") + sequence.count("C")) / len(sequence) - 0.6) < 0.01


@pytest.mark.parametrize(
    ("length", "gc", "message"), [(0, 0.5, "length must be > 0"), (100, 1.5, "gc must be")]
)
def test_random_genome_rejects_bad_settings(length: int, gc: float, message: str) -> None:
    with pytest.raises(ModelshrinkError, match=message):
        random_genome(length, gc, np.random.default_rng(0))


def test_read_fasta_accepts_n_runs_and_names_bad_characters(tmp_path: Path) -> None:
    good = tmp_path / "good.fa"
    good.write_text(">a desc\nacgtNNNN\nACGT\n>b\nTTTT\n")
    assert read_fasta(good) == {"a": "ACGTNNNNACGT", "b": "TTTT"}
    assert acgt_segments("ACGTNNNNACGT") == [(0, 4), (8, 12)]
    bad = tmp_path / "bad.fa"
    bad.write_text(">chr9\nACGTRACGT\n")
    with pytest.raises(ModelshrinkError, match=r"bad\.fa contig chr9: character 'R' at position 5"):
        read_fasta(bad)


def test_variants_are_left_aligned_non_overlapping_and_avoid_n() -> None:
    reference = random_genome(20_000, 0.5, np.random.default_rng(1))
    sequence = reference["contig_1"]
    reference["contig_1"] = sequence[:5000] + "N" * 500 + sequence[5500:]
    variants = simulate_variants(reference, 40, 30, np.random.default_rng(2), min_gap=5)
    assert sum(v.kind == "SNP" for v in variants) == 40
    assert sum(v.kind == "INDEL" for v in variants) == 30
    assert any(v.homopolymer for v in variants)
    spans = [(v.pos, v.pos + len(v.ref)) for v in variants]
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert not any(4999 <= v.pos < 5500 for v in variants)
    for v in variants:
        if v.kind == "INDEL":
            # left-aligned: the anchor cannot slide left (its base differs from the last
            # base of the inserted/deleted stretch)
            changed = v.alt[1:] if len(v.alt) > len(v.ref) else v.ref[1:]
            assert v.ref[0] != changed[-1]
            assert 1 <= len(changed) <= 10
    sample = apply_variants(reference, variants)
    expected = sum(len(v.alt) - len(v.ref) for v in variants)
    assert len(sample["contig_1"]) - len(reference["contig_1"]) == expected


def test_too_many_variants_is_a_clear_error() -> None:
    reference = {"c": "ACGT" * 50}
    with pytest.raises(ModelshrinkError, match="cannot place 100 variants in 200 bases"):
        simulate_variants(reference, 90, 10, np.random.default_rng(0))


def test_apply_variants_rejects_mismatching_ref() -> None:
    with pytest.raises(ModelshrinkError, match="does not match the reference"):
        apply_variants({"c": "ACGTACGT"}, [Variant("c", 2, "T", "A")])


@needs_bcftools
def test_truth_vcf_round_trip_with_bcftools(tmp_path: Path) -> None:
    reference = tmp_path / "ref.fa"
    vcf, sample = tmp_path / "truth.vcf.gz", tmp_path / "sample.fa"
    assert (
        main(["simulate", "genome", "-o", str(reference), "--length", "30000", "--seed", "5"]) == 0
    )
    arguments = ["simulate", "variants", "--reference", str(reference), "--vcf", str(vcf)]
    arguments += ["--sample-fasta", str(sample), "--snps", "25", "--indels", "15", "--seed", "6"]
    assert main(arguments) == 0
    assert Path(f"{vcf}.tbi").is_file()
    view = subprocess.run(
        ["bcftools", "view", "-H", str(vcf)], capture_output=True, text=True, check=True
    )
    records = [line.split("\t") for line in view.stdout.splitlines()]
    assert len(records) == 40
    assert {record[9] for record in records} == {"1"}
    # applying the truth VCF to the reference gives exactly the sample FASTA
    consensus = subprocess.run(
        ["bcftools", "consensus", "-f", str(reference), str(vcf)],
        capture_output=True,
        text=True,
        check=True,
    )
    consensus_fasta = tmp_path / "consensus.fa"
    consensus_fasta.write_text(consensus.stdout)
    assert read_fasta(consensus_fasta) == read_fasta(sample)
    # already normalised: bcftools norm changes nothing
    norm = subprocess.run(
        ["bcftools", "norm", "-f", str(reference), "-Ov", "-o", "/dev/null", str(vcf)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "40/0/0/0" in norm.stderr.replace("\t", "")


def test_cli_reports_bad_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = tmp_path / "iupac.fa"
    reference.write_text(">x\nACGTYY\n")
    arguments = ["simulate", "variants", "--reference", str(reference)]
    arguments += ["--vcf", str(tmp_path / "t.vcf.gz"), "--sample-fasta", str(tmp_path / "s.fa")]
    assert main(arguments) == 1
    assert "iupac.fa contig x: character 'Y'" in capsys.readouterr().err
    assert not (tmp_path / "t.vcf.gz").exists()


def test_config_section_drives_the_cli_and_flags_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("simulate:\n  genome: {length: 3000, gc: 0.2, seed: 9}\n")
    output = tmp_path / "ref.fa"
    assert main(["simulate", "genome", "-o", str(output), "--config", str(config)]) == 0
    sequence = read_fasta(output)["contig_1"]
    assert len(sequence) == 3000
    assert (sequence.count("G") + sequence.count("C")) / 3000 < 0.3
    assert main(["simulate", "genome", "-o", str(output), "--config", str(config)]) == 0
    assert read_fasta(output)["contig_1"] == sequence  # same seed, same genome
    assert (
        main(["simulate", "genome", "-o", str(output), "--config", str(config), "--gc", "0.8"]) == 0
    )
    assert read_fasta(output)["contig_1"].count("A") < 450
    config.write_text("simulate:\n  genome: {lenght: 3000}\n")
    assert main(["simulate", "genome", "-o", str(output), "--config", str(config)]) == 1
    assert "simulate.genome: unknown key(s) lenght" in capsys.readouterr().err
