"""hap.py-compatible evaluation on hand-built truth/query pairs with known answers."""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import math
import random
import re
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
        (
            [snp(40), snp(20)],
            {},
            r"query VCF .*q\.vcf line 7: not sorted \(chr1:20 after chr1:40\).*bcftools sort",
        ),
        (
            [(20, "ACGT"[0], "C", "1", ".")],
            {"contig": "chrX"},
            r"q\.vcf line 6: contig chrX is not in reference .*ref\.fa \(it has: chr1\)",
        ),
        (
            [(20, wrong(20, 3), "A", "1", ".")],
            {},
            rf"REF allele\(s\) disagree .*bcftools norm -c x.*chr1:20 REF={wrong(20, 3)} "
            rf"reference={ref(20, 3)} \(line 6\)",
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


# --- hostile inputs: compression, malformed lines, duplicates, symbolic/IUPAC alleles ---

FIRST_RECORD_LINE = 6  # write_vcf writes four ## lines and the #CHROM line


def with_lines(path: Path, lines: list[str]) -> Path:
    """A VCF with write_vcf's header and these raw record lines."""
    write_vcf(path, [])
    with path.open("a") as handle:
        handle.write("".join(f"{line}\n" for line in lines))
    return path


def record_line(pos: int, ref_: str, alt: str, gt: str = "1") -> str:
    return f"chr1\t{pos}\t.\t{ref_}\t{alt}\t50\tPASS\t.\tGT\t{gt}"


def plain_gzip(path: Path) -> Path:
    """`path` compressed with Python's gzip (one member, no BGZF blocks), as `path`.gz."""
    target = Path(f"{path}.gz")
    with gzip.open(target, "wb") as handle:
        handle.write(path.read_bytes())
    return target


def test_plain_gzip_vcfs_read_like_bgzip(main, tmp_path: Path, reference: Path) -> None:
    truth = write_vcf(tmp_path / "t.vcf", [snp(20), snp(40)])
    query = write_vcf(tmp_path / "q.vcf", [snp(20), snp(60)])
    truth_gz, query_gz = plain_gzip(truth), plain_gzip(query)
    with pytest.raises(NotImplementedError):  # what htslib makes of plain gzip
        list(pysam.VariantFile(str(query_gz)))
    prefix = tmp_path / "res" / "x"
    argv = ["evaluate", str(truth_gz), str(query_gz), "-r", str(reference), "-o", str(prefix)]
    assert main(argv) == 0
    assert "SNP,ALL,2,1,1,2,1,0,0,0,0.5,0.5," in Path(f"{prefix}.summary.csv").read_text()


@pytest.mark.parametrize(
    ("compress", "message"),
    [
        (lambda data: bz2.compress(data), r"is bzip2-compressed; .*bzip2 -dc .* \| bgzip"),
        (lambda data: gzip.compress(data)[:-20], r"is corrupt or truncated after line \d+"),
        (lambda data: b"BCF\x02\x02" + data, r"is BCF; .*bcftools view -Oz"),
        (lambda data: b"", r"is empty"),
    ],
)
@pytest.mark.parametrize("what", ["truth", "query"])
def test_unreadable_vcf_files_are_named(
    tmp_path: Path, reference: Path, what: str, compress, message: str
) -> None:
    good = write_vcf(tmp_path / "good.vcf", [snp(20 + i) for i in range(50)])
    bad = tmp_path / "bad.vcf.gz"
    bad.write_bytes(compress(good.read_bytes()))
    pair = (bad, good) if what == "truth" else (good, bad)
    with pytest.raises(ModelshrinkError, match=rf"^{what} VCF .*bad\.vcf\.gz {message}"):
        compare_vcfs(*pair, reference)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"chr1\t20\t.\t{ref(20)}", r"4 tab-separated columns, expected 10 as in the #CHROM"),
        (record_line(20, ref(20), "A").replace("\t", " "), r"1 tab-separated .*spaces instead"),
        (record_line(20, ref(20), "A") + "\t0/1", r"11 tab-separated columns, expected 10"),
        (record_line(20, ref(20), "A").replace("\t20\t", "\t2x0\t"), r"POS '2x0' is not a"),
        (record_line(20, ref(20), "A").replace("\t20\t", "\t0\t"), r"POS '0' is not a positive"),
        (record_line(20, "Z", "A"), r"REF 'Z' is not a DNA sequence"),
        (record_line(20, ".", "A"), r"REF '\.' is not a DNA sequence"),
        (record_line(20, ref(20), "A1"), r"ALT allele 'A1' is neither a DNA sequence nor"),
        (record_line(20, ref(20), "<DEL"), r"ALT allele '<DEL' is neither"),
        (record_line(20, ref(20), "A", gt="x"), r"GT 'x' is not a genotype"),
        (record_line(20, ref(20), "A", gt="0/2"), r"GT '0/2' names an allele beyond the 1 ALT"),
    ],
)
def test_malformed_lines_name_file_line_and_problem(
    tmp_path: Path, reference: Path, line: str, message: str
) -> None:
    truth = write_vcf(tmp_path / "t.vcf", [snp(10)])
    query = with_lines(tmp_path / "q.vcf", [record_line(10, *snp(10)[1:3]), line])
    with pytest.raises(ModelshrinkError, match=rf"^query VCF .*q\.vcf line 7: {message}"):
        compare_vcfs(truth, query, reference)


def test_vcf_without_header_is_refused(tmp_path: Path, reference: Path) -> None:
    truth = tmp_path / "t.vcf"
    truth.write_text(record_line(20, *snp(20)[1:3]) + "\n")
    with pytest.raises(ModelshrinkError, match=r"truth VCF .*t\.vcf line 1: a record before"):
        compare_vcfs(truth, truth, reference)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            record_line(1005, "A", "G"),
            r"position chr1:1005 is past the end of chr1 \(length 1000 in reference .*ref\.fa\)",
        ),
        (
            record_line(998, ref(998, 3) + "A", "A"),
            rf"REF {ref(998, 3)}A at chr1:998 runs past the end of chr1 \(length 1000",
        ),
    ],
)
@pytest.mark.parametrize("what", ["truth", "query"])
def test_records_past_the_contig_end_are_refused(
    tmp_path: Path, reference: Path, what: str, line: str, message: str
) -> None:
    good = write_vcf(tmp_path / "good.vcf", [snp(10)])
    bad = with_lines(tmp_path / "bad.vcf", [line])
    pair = (bad, good) if what == "truth" else (good, bad)
    with pytest.raises(ModelshrinkError, match=rf"^{what} VCF .*bad\.vcf line 6: {message}"):
        compare_vcfs(*pair, reference)


def test_duplicate_records_count_once_and_are_reported(
    evaluate, tmp_path: Path, reference: Path
) -> None:
    base = ref(50)
    first, second = [b for b in "ACGT" if b != base][:2]
    truth = [snp(20), snp(20), snp(40), (50, base, first, "1", "PASS")]
    # the query repeats 20 and calls `first` at 50 twice: once alone, once next to `second`
    query = [
        snp(20),
        snp(20),
        (50, base, first, "1", "PASS"),
        (50, base, f"{first},{second}", "1/2", "."),
    ]
    comparison = evaluate(truth, query, ploidy=2)
    # truth 20, 40, 50 (40 missed); query 20, 50 `first` (TP), 50 `second` (FP.al)
    assert counts(comparison, "SNP") == (3, 2, 1, 3, 1, 0, 0, 1)
    assert comparison.inputs["truth"]["skipped_alleles"] == {
        "duplicate": 1,
        "symbolic": 0,
        "iupac": 0,
    }
    assert comparison.inputs["query"]["skipped_alleles"]["duplicate"] == 2
    assert comparison.inputs["query"]["first_skipped"] == {"duplicate": "chr1:20 (line 7)"}
    assert comparison.inputs["query"]["records"] == 4


def test_symbolic_and_iupac_alleles_are_skipped_and_counted(
    main, tmp_path: Path, reference: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truth = with_lines(
        tmp_path / "t.vcf",
        [
            record_line(20, *snp(20)[1:3]),
            record_line(30, ref(30), "R"),
            record_line(40, *snp(40)[1:3]),
        ],
    )
    query = with_lines(
        tmp_path / "q.vcf",
        [
            record_line(20, *snp(20)[1:3]),
            record_line(25, ref(25), "<DEL>"),
            record_line(26, ref(26), "*"),
            record_line(27, ref(27), f"{ref(27)}]chr1:500]"),
            record_line(28, ref(28), f".{ref(28)}"),
            record_line(29, ref(29), f"{snp(29)[2]},<INS>", gt="1/2"),
            record_line(30, ref(30), "Y"),
            record_line(31, ref(31), "<DEL>", gt="0"),  # not called: not counted
        ],
    )
    prefix = tmp_path / "res" / "x"
    argv = ["evaluate", str(truth), str(query), "-r", str(reference), "-o", str(prefix)]
    assert main(argv) == 0
    # truth 20, 40 (30 skipped); query 20, 29 (the rest skipped): the only FP is 29 (FP.al:
    # truth 20 is within the cluster gap), none comes from a skipped allele
    assert "SNP,ALL,2,1,1,2,1,0,0,1,0.5,0.5," in Path(f"{prefix}.summary.csv").read_text()
    inputs = json.loads(Path(f"{prefix}.metrics.json").read_text())["inputs"]
    assert inputs["truth"]["skipped_alleles"] == {"duplicate": 0, "symbolic": 0, "iupac": 1}
    assert inputs["query"]["skipped_alleles"] == {"duplicate": 0, "symbolic": 5, "iupac": 1}
    assert inputs["query"]["first_skipped"]["symbolic"] == "chr1:25 (line 7)"
    assert inputs["query"]["records"] == 8
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "truth VCF" in warnings[0] and "1 IUPAC-ambiguous" in warnings[0]
    assert "query VCF" in warnings[1] and "6 called ALT allele(s) not compared" in warnings[1]
    assert "5 symbolic" in warnings[1] and "first at chr1:25 (line 7)" in warnings[1]


def test_cli_malformed_line_prints_one_line(main, tmp_path: Path, reference: Path, capsys) -> None:
    truth = plain_gzip(with_lines(tmp_path / "t.vcf", [record_line(20, ref(20), "A", gt="1/x")]))
    query = write_vcf(tmp_path / "q.vcf", [snp(20)])
    argv = ["evaluate", str(truth), str(query), "-r", str(reference), "-o", str(tmp_path / "x")]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert re.fullmatch(
        r"modelshrink evaluate: error: truth VCF .*t\.vcf\.gz line 6: GT '1/x' .*", error[0]
    )
    assert not list(tmp_path.glob("x.*"))
