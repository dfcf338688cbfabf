"""The report package: summary rows from stage outputs, Pareto front, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelshrink.errors import ModelshrinkError
from modelshrink.report import plots, summary

HAPPY_HEADER = (
    "Type,Filter,TRUTH.TOTAL,TRUTH.TP,TRUTH.FN,QUERY.TOTAL,QUERY.FP,QUERY.UNK,FP.gt,"
    "METRIC.Recall,METRIC.Precision,METRIC.Frac_NA,METRIC.F1_Score\n"
)


def write_row(folder: Path, variant: str, nbytes: int, identity: str, f1: str) -> dict:
    base = folder / variant
    base.mkdir(parents=True)
    (base / "stats.json").write_text(
        json.dumps(
            {
                "bytes": nbytes,
                "parameters": 100,
                "nonzero_parameters": 80,
                "bits_per_parameter": 8 * nbytes / 100,
                "macs_per_sample": 50.0,
                "sparse_macs_per_sample": 40.0,
            }
        )
    )
    (base / "speed.tsv").write_text("reads\tskipped\tsamples_per_second\n3\t2\t1000.5\n")
    (base / "reads.tsv").write_text(
        "sequences\taligned\tmedian_identity\tmean_identity\n3\t3\t" + identity + "\t0.88\n"
    )
    (base / "per_read.tsv").write_text(
        "name\tlength\tidentity\trelative_length\na\t10\t0.9\t1.0\nb\t10\tNA\tNA\n"
    )
    (base / "asm.tsv").write_text(
        "sequences\taligned\tmedian_identity\tmean_identity\n0\t0\tNA\tNA\n"
    )
    (base / "eval.csv").write_text(
        HAPPY_HEADER
        + f"INDEL,ALL,5,1,4,2,1,0,0,0.2,0.5,0,0.2857\nSNP,ALL,10,9,1,9,0,0,0,0.9,1.0,0,{f1}\n"
    )
    return {
        "variant": variant,
        "sample": "demo",
        "stats": str(base / "stats.json"),
        "speed": str(base / "speed.tsv"),
        "read_identity": str(base / "reads.tsv"),
        "read_identity_table": str(base / "per_read.tsv"),
        "assembly_draft": str(base / "asm.tsv"),
        "assembly_polished": str(base / "asm.tsv"),
        "evaluation": str(base / "eval.csv"),
    }


def test_summary_rows_ratio_and_metrics(tmp_path: Path) -> None:
    manifest = [
        write_row(tmp_path, "original", 1000, "0.9", "0.947"),
        write_row(tmp_path, "small", 250, "0.85", "0.9"),
    ]
    rows = summary.build_summary(summary.parse_manifest(json.dumps(manifest)))
    summary.write_summary(rows, tmp_path / "summary.tsv")
    back = {row["variant"]: row for row in summary.read_summary(tmp_path / "summary.tsv")}
    assert back["small"]["compression_ratio"] == 4.0
    assert back["original"]["compression_ratio"] == 1.0
    assert back["small"]["read_identity_median"] == 0.85
    assert back["small"]["reads_skipped"] == 2  # from the basecall's speed.tsv
    assert back["original"]["snp_f1"] == 0.947 and back["original"]["indel_recall"] == 0.2
    assert back["small"]["assembly_identity_polished"] is None  # empty assembly: NA
    header = (tmp_path / "summary.tsv").read_text().splitlines()[0].split("\t")
    assert tuple(header) == summary.COLUMNS


def test_manifest_must_name_every_file() -> None:
    with pytest.raises(ModelshrinkError, match="lacks the keys"):
        summary.parse_manifest(json.dumps([{"variant": "x", "sample": "y"}]))


def test_pareto_front_keeps_points_nobody_beats() -> None:
    points = [(100.0, 0.9), (50.0, 0.85), (60.0, 0.8), (25.0, 0.0), (100.0, 0.7)]
    assert plots.pareto_front(points) == [3, 1, 0]


def test_plots_are_written(tmp_path: Path) -> None:
    manifest = [
        write_row(tmp_path, "original", 1000, "0.9", "0.947"),
        write_row(tmp_path, "small", 250, "0.85", "0.9"),
    ]
    rows = summary.build_summary(manifest)
    summary.write_summary(rows, tmp_path / "summary.tsv")
    rows = summary.read_summary(tmp_path / "summary.tsv")
    plots.plot_read_identity(manifest, tmp_path / "identity.svg")
    plots.plot_size_vs_accuracy(rows, tmp_path / "pareto.svg")
    plots.plot_f1(rows, tmp_path / "f1.svg")
    for name in ("identity", "pareto", "f1"):
        text = (tmp_path / f"{name}.svg").read_text()
        assert text.lstrip().startswith("<?xml") and "</svg>" in text
