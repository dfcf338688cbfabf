"""hap.py-compatible evaluation on hand-built truth/query pairs with known answers."""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path

import pysam
import pytest

from modelshrink import cli
from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.happy_output import SUMMARY_COLUMNS
from modelshrink.evaluate.vcfcompare import compare_vcfs, write_outputs

HOMOPOLYMER = 100  # 0-based start of "G AAAAAA C"
REPEAT = 200  # 0-based start of "T CACACACA G"
COMPLEX = 300  # 0-based start of "ACT" in "G ACT G"


def build_reference() -> str:
    rng = random.Random(3)
    bases = [rng.choice("ACGT") for _ in range(1_000)]
    features = {HOMOPOLYMER: "GAAAAAAC", REPEAT: "TCACACACAG", COMPLEX: "GACTG"}
    for start, text in features.items():
        bases[start : start + len(text)] = list(text)
    return "".join(bases)


REFERENCE = build_reference()


def ref(pos: int, length: int = 1) -> str:
    """REF allele at 1-based VCF position `pos`."""
    return REFERENCE[pos - 1 : pos - 1 + length]


def wrong(pos: int, length: int = 1) -> str:
    """A REF allele that disagrees with the reference at every base."""
    return "".join("C" if base == "A" else "A" for base in ref(pos, length))


def snp(pos: int, gt: str = "1", filter_: str = "PASS") -> tuple:
    """A transversion-free SNP: A<->G, C<->T (transitions), written at 1-based `pos`."""
    base = ref(pos)
    return (pos, base, {"A": "G", "G": "A", "C": "T", "T": "C"}[base], gt, filter_)


def write_vcf(path: Path, records: list[tuple], sample: bool = True, contig: str = "chr1") -> Path:
    header = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={contig},length={len(REFERENCE)}>",
        '##FILTER=<ID=LowQual,Description="low quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ]
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + ("\tFORMAT\tS" if sample else "")
    lines = [*header, columns]
    for pos, ref_, alt, gt, filter_ in records:
        line = f"{contig}\t{pos}\t.\t{ref_}\t{alt}\t50\t{filter_}\t."
        lines.append(line + (f"\tGT\t{gt}" if sample else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    path = tmp_path / "ref.fa"
    path.write_text(f">chr1\n{REFERENCE}\n")
    return path


@pytest.fixture
def evaluate(tmp_path: Path, reference: Path):
    """Compare truth/query record lists (sorted by position first); returns the Comparison."""

    def run(truth: list[tuple], query: list[tuple], **options):
        truth_vcf = write_vcf(tmp_path / "truth.vcf", sorted(truth, key=lambda r: r[0]))
        query_vcf = write_vcf(tmp_path / "query.vcf", sorted(query, key=lambda r: r[0]))
        return compare_vcfs(truth_vcf, query_vcf, reference, **options)

    return run


def counts(comparison, kind: str, filter_name: str = "ALL") -> tuple[int, ...]:
    """(TRUTH.TOTAL, TRUTH.TP, TRUTH.FN, QUERY.TOTAL, QUERY.FP, QUERY.UNK, FP.gt, FP.al)"""
    row = comparison.row(kind, filter_name)
    return tuple(row[c] for c in SUMMARY_COLUMNS[2:10])


def test_exact_matches_are_all_true_positives(evaluate) -> None:
    records = [snp(20), snp(40), snp(60), (500, ref(500, 3), ref(500), "1", "PASS")]
    comparison = evaluate(records, records)
    assert counts(comparison, "SNP") == (3, 3, 0, 3, 0, 0, 0, 0)
    assert counts(comparison, "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)
    row = comparison.row("SNP", "ALL")
    assert (row["METRIC.Recall"], row["METRIC.Precision"], row["METRIC.F1_Score"]) == (1, 1, 1)


def test_misses_and_false_positives(evaluate) -> None:
    wrong_alt = (60, ref(60), next(b for b in "ACGT" if b not in (ref(60), snp(60)[2])), "1", ".")
    comparison = evaluate([snp(20), snp(40), snp(60)], [snp(20), snp(700), wrong_alt])
    # truth 40 missed, truth 60 called with the wrong base (FP.al), 700 is a plain FP
    assert counts(comparison, "SNP") == (3, 1, 2, 3, 2, 0, 0, 1)
    row = comparison.row("SNP", "ALL")
    assert row["METRIC.Recall"] == pytest.approx(1 / 3)
    assert row["METRIC.Precision"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("truth_record", "query_record"),
    [
        # homopolymer G AAAAAA C: delete the first A vs the last A
        ((HOMOPOLYMER + 1, "GA", "G"), (HOMOPOLYMER + 6, "AA", "A")),
        # homopolymer: insert an A before vs after the run
        ((HOMOPOLYMER + 1, "G", "GA"), (HOMOPOLYMER + 7, "A", "AA")),
        # tandem repeat T CACACACA G: delete the first CA vs the last CA
        ((REPEAT + 1, "TCA", "T"), (REPEAT + 7, "ACA", "A")),
        # tandem repeat: delete CA vs AC one base later
        ((REPEAT + 1, "TCA", "T"), (REPEAT + 2, "CAC", "C")),
        # tandem repeat: insert CA at the start vs at the end of the repeat
        ((REPEAT + 1, "T", "TCA"), (REPEAT + 9, "A", "ACA")),
    ],
)
def test_equivalent_indel_representations_match(
    evaluate, truth_record: tuple, query_record: tuple
) -> None:
    for pos, ref_allele, _ in (truth_record, query_record):
        assert ref(pos, len(ref_allele)) == ref_allele
    comparison = evaluate([(*truth_record, "1", "PASS")], [(*query_record, "1", "PASS")])
    assert counts(comparison, "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)


def test_shifted_indel_of_the_wrong_length_does_not_match(evaluate) -> None:
    comparison = evaluate(
        [(REPEAT + 1, "TCA", "T", "1", "PASS")], [(REPEAT + 5, "ACACA", "A", "1", "PASS")]
    )
    assert counts(comparison, "INDEL") == (1, 0, 1, 1, 1, 0, 0, 1)


def test_mnp_matches_the_snps_it_is_made_of(evaluate) -> None:
    pos = 600
    mnp = (pos, ref(pos, 2), snp(pos)[2] + snp(pos + 1)[2], "1", "PASS")
    comparison = evaluate([mnp], [snp(pos), snp(pos + 1)])
    assert counts(comparison, "SNP") == (2, 2, 0, 2, 0, 0, 0, 0)
    comparison = evaluate([snp(pos), snp(pos + 1)], [mnp])
    assert counts(comparison, "SNP") == (2, 2, 0, 2, 0, 0, 0, 0)


def test_complex_record_matches_snp_plus_deletion_by_haplotype(evaluate) -> None:
    pos = COMPLEX + 2  # "ACT" -> "G" gives the same haplotype as A->G plus deleting CT
    assert ref(pos, 3) == "ACT"
    complex_call = (pos, "ACT", "G", "1", "PASS")
    decomposed = [(pos, "A", "G", "1", "PASS"), (pos, "ACT", "A", "1", "PASS")]
    comparison = evaluate([complex_call], decomposed)
    assert counts(comparison, "INDEL") == (1, 1, 0, 1, 0, 0, 0, 0)
    assert counts(comparison, "SNP") == (0, 0, 0, 1, 0, 0, 0, 0)
    assert comparison.row("SNP", "ALL")["METRIC.Precision"] == 1.0
    # only half of it: the SNP alone does not make the truth haplotype
    comparison = evaluate([complex_call], decomposed[:1])
    assert counts(comparison, "INDEL")[:3] == (1, 0, 1)
    assert counts(comparison, "SNP") == (0, 0, 0, 1, 1, 0, 0, 1)


def test_deletion_spanning_a_snp_on_the_other_haplotype(evaluate) -> None:
    deletion = (500, ref(500, 4), ref(500), "0/1", "PASS")  # deletes 501-503
    inside = snp(502, "1/0")
    comparison = evaluate([deletion, inside], [inside, deletion], ploidy=2)
    assert counts(comparison, "INDEL")[:3] == (1, 1, 0)
    assert counts(comparison, "SNP")[:3] == (1, 1, 0)
    # a hom SNP cannot coexist with the het deletion: deletion TP, SNP genotype error
    comparison = evaluate([deletion, inside], [deletion, snp(502, "1/1")], ploidy=2)
    assert counts(comparison, "INDEL")[:3] == (1, 1, 0)
    assert counts(comparison, "SNP") == (1, 0, 1, 1, 1, 0, 1, 0)


def test_multiallelic_record_is_split_into_its_alleles(evaluate) -> None:
    base = ref(50)
    first, second = [b for b in "ACGT" if b != base][:2]
    truth = [(50, base, first, "0/1", "PASS"), (50, base, second, "0/1", "PASS")]
    comparison = evaluate(truth, [(50, base, f"{first},{second}", "1/2", "PASS")], ploidy=2)
    assert counts(comparison, "SNP") == (2, 2, 0, 2, 0, 0, 0, 0)
    assert math.isnan(comparison.row("SNP", "ALL")["QUERY.TOTAL.het_hom_ratio"])  # 2 het / 0 hom


def test_dense_cluster_beyond_exhaustive_search_matches_records(evaluate) -> None:
    truth = [snp(pos) for pos in range(610, 655, 5)]  # 9 SNPs 5 bp apart: one cluster
    transversion = (655, ref(655), {"A": "C", "C": "A", "G": "T", "T": "G"}[ref(655)], "1", ".")
    comparison = evaluate(truth, [*truth[1:], transversion])
    assert counts(comparison, "SNP") == (9, 8, 1, 9, 1, 0, 0, 1)


def test_genotype_mismatch_is_fp_gt_only_in_diploid_mode(evaluate) -> None:
    comparison = evaluate([snp(50, "0/1")], [snp(50, "1/1")], ploidy=2)
    assert counts(comparison, "SNP") == (1, 0, 1, 1, 1, 0, 1, 0)
    comparison = evaluate([snp(50, "0/1")], [snp(50, "1/1")], ploidy=1)
    assert counts(comparison, "SNP") == (1, 1, 0, 1, 0, 0, 0, 0)


def test_haploid_1_and_hom_1_1_are_equivalent(evaluate) -> None:
    comparison = evaluate([snp(50, "1"), snp(70, "1/1")], [snp(50, "1/1"), snp(70, "1")])
    assert counts(comparison, "SNP") == (2, 2, 0, 2, 0, 0, 0, 0)
    assert comparison.row("SNP", "ALL")["TRUTH.TOTAL.het_hom_ratio"] == 0.0


def test_filtered_calls_count_in_all_but_not_in_pass(evaluate) -> None:
    truth = [snp(20), snp(40)]
    query = [snp(20), snp(40, filter_="LowQual"), snp(800, filter_="LowQual")]
    comparison = evaluate(truth, query)
    assert counts(comparison, "SNP", "ALL") == (2, 2, 0, 3, 1, 0, 0, 0)
    assert counts(comparison, "SNP", "PASS") == (2, 1, 1, 1, 0, 0, 0, 0)
    only_pass = evaluate(truth, query, pass_only=True)
    assert counts(only_pass, "SNP", "ALL") == counts(only_pass, "SNP", "PASS")
    assert counts(only_pass, "SNP", "ALL") == (2, 1, 1, 1, 0, 0, 0, 0)


def test_calls_outside_confident_regions_are_unk(evaluate, tmp_path: Path) -> None:
    bed = tmp_path / "confident.bed"
    bed.write_text("track name=x\nchr1\t0\t100\nchr1\t150\t400\n")
    truth = [snp(20), snp(120), snp(300)]  # 120 lies outside: not counted
    query = [snp(20), snp(120), snp(130), snp(350)]  # 130 outside: UNK; 350 inside: FP
    comparison = evaluate(truth, query, confident_bed=bed)
    assert counts(comparison, "SNP") == (2, 1, 1, 4, 1, 2, 0, 0)
    assert comparison.row("SNP", "ALL")["METRIC.Frac_NA"] == pytest.approx(0.5)
    assert comparison.row("SNP", "ALL")["METRIC.Precision"] == pytest.approx(0.5)


def test_titv_ratio_and_rows_in_happy_order(evaluate) -> None:
    transversion = (90, ref(90), {"A": "C", "C": "A", "G": "T", "T": "G"}[ref(90)], "1", "PASS")
    comparison = evaluate([snp(20), snp(40), transversion], [snp(20)])
    assert [(r["Type"], r["Filter"]) for r in comparison.rows] == [
        ("INDEL", "ALL"),
        ("INDEL", "PASS"),
        ("SNP", "ALL"),
        ("SNP", "PASS"),
    ]
    assert comparison.row("SNP", "ALL")["TRUTH.TOTAL.TiTv_ratio"] == pytest.approx(2.0)


def test_outputs_summary_json_and_annotated_vcf(evaluate, tmp_path: Path) -> None:
    comparison = evaluate([snp(20), snp(40)], [snp(20), snp(800)])
    paths = write_outputs(comparison, tmp_path / "out" / "happy")
    lines = paths["summary"].read_text().splitlines()
    assert lines[0] == (
        "Type,Filter,TRUTH.TOTAL,TRUTH.TP,TRUTH.FN,QUERY.TOTAL,QUERY.FP,QUERY.UNK,FP.gt,FP.al,"
        "METRIC.Recall,METRIC.Precision,METRIC.Frac_NA,METRIC.F1_Score,TRUTH.TOTAL.TiTv_ratio,"
        "QUERY.TOTAL.TiTv_ratio,TRUTH.TOTAL.het_hom_ratio,QUERY.TOTAL.het_hom_ratio"
    )
    assert lines[3] == "SNP,ALL,2,1,1,2,1,0,0,0,0.5,0.5,0.0,0.5,,,0.0,0.0"
    assert lines[1].startswith("INDEL,ALL,0,0,0,0,0,0,0,0,,,,,")
    metrics = json.loads(paths["json"].read_text())
    assert metrics["summary"][2]["TRUTH.TP"] == 1 and metrics["parameters"]["ploidy"] == 1
    with pysam.VariantFile(str(paths["vcf"])) as vcf:
        decisions = {
            rec.pos: (rec.samples["TRUTH"]["BD"], rec.samples["QUERY"]["BD"]) for rec in vcf
        }
    assert decisions == {20: ("TP", "TP"), 40: ("FN", "N"), 800: ("N", "FP")}
    assert Path(f"{paths['vcf']}.tbi").is_file()


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch):
    """The real CLI entry point with only this subcommand registered."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"evaluate": "modelshrink.cli.evaluate"})
    return cli.main


def test_cli_reads_bgzipped_vcfs(main, tmp_path: Path, reference: Path) -> None:
    truth = write_vcf(tmp_path / "t.vcf", [snp(20), snp(40)])
    query = write_vcf(tmp_path / "q.vcf", [snp(20)])
    subprocess.run(["bgzip", "-f", str(truth)], check=True)
    subprocess.run(["bgzip", "-f", str(query)], check=True)
    prefix = tmp_path / "res" / "x"
    argv = ["evaluate", f"{truth}.gz", f"{query}.gz", "-r", str(reference), "-o", str(prefix)]
    assert main([*argv, "--ploidy", "1"]) == 0
    assert "SNP,ALL,2,1,1,1,0,0,0,0,0.5,1.0," in Path(f"{prefix}.summary.csv").read_text()


@pytest.mark.parametrize(
    ("records", "options", "message"),
    [
        ([snp(40), snp(20)], {}, r"query VCF .*q\.vcf is not sorted .*bcftools sort"),
        (
            [(20, "ACGT"[0], "C", "1", ".")],
            {"contig": "chrX"},
            r"contig\(s\) chrX not in reference",
        ),
        (
            [(20, wrong(20, 3), "A", "1", ".")],
            {},
            rf"REF allele\(s\) disagree .*chr1:20 REF={wrong(20, 3)}",
        ),
        ([snp(20)], {"sample": False}, r"query VCF .*q\.vcf has no sample column"),
    ],
)
def test_bad_query_vcfs_get_clear_messages(
    tmp_path: Path, reference: Path, records: list, options: dict, message: str
) -> None:
    truth = write_vcf(tmp_path / "t.vcf", [snp(20)])
    query = write_vcf(tmp_path / "q.vcf", records, **options)
    with pytest.raises(ModelshrinkError, match=message):
        compare_vcfs(truth, query, reference)


def test_ref_mismatches_are_listed_with_count(tmp_path: Path, reference: Path) -> None:
    records = [(p, wrong(p), "T", "1", ".") for p in range(10, 80, 10)]
    truth = write_vcf(tmp_path / "t.vcf", records)
    with pytest.raises(ModelshrinkError, match=r"7 REF allele\(s\) disagree") as error:
        compare_vcfs(truth, truth, reference)
    assert str(error.value).count("REF=") == 5


def test_cli_missing_file_prints_one_line(main, tmp_path: Path, reference: Path, capsys) -> None:
    argv = ["evaluate", str(tmp_path / "no.vcf"), str(tmp_path / "no.vcf"), "-r", str(reference)]
    assert main([*argv, "-o", str(tmp_path / "x")]) == 1
    assert "truth VCF" in capsys.readouterr().err


def test_vcf_without_genotypes_is_refused(tmp_path: Path, reference: Path) -> None:
    truth = write_vcf(tmp_path / "t.vcf", [snp(20)])
    query = tmp_path / "q.vcf"
    query.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
        f"chr1\t20\t.\t{ref(20)}\t{snp(20)[2]}\t50\tPASS\t.\tDP\t12\n"
    )
    with pytest.raises(ModelshrinkError, match=r"query VCF .*q\.vcf has no FORMAT/GT"):
        compare_vcfs(truth, query, reference)
