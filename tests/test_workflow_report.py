"""The report package: summary rows from stage outputs, changes with intervals, plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

from modelshrink.errors import ModelshrinkError
from modelshrink.report import labels, plots, summary

matplotlib.use("Agg")

HAPPY_HEADER = (
    "Type,Filter,TRUTH.TOTAL,TRUTH.TP,TRUTH.FN,QUERY.TOTAL,QUERY.FP,QUERY.UNK,FP.gt,"
    "METRIC.Recall,METRIC.Precision,METRIC.Frac_NA,METRIC.F1_Score\n"
)
PER_SEQUENCE_HEADER = "name\tlength\tidentity\trelative_length\ttarget\ttarget_start\ttarget_end\n"
#: what `modelshrink timing` wrote for the two variants of these tests
TIMING = (
    "variant\texecution_path\tstored_as\treads\tsamples\trepeats\tthreads\tbatch_size\tdevice\t"
    "samples_per_second\tsamples_per_second_min\tsamples_per_second_max\tspeed_ratio\t"
    "speed_ratio_min\tspeed_ratio_max\tcpu_speed_ratio\tcpu_share\n"
    "original\tfloat32\tfloat32\t5\t100000\t3\t2\t40\tcpu\t150000.0\t140000.0\t160000.0\t"
    "1.0000\t1.0000\t1.0000\t1.0000\t0.9500\n"
    "small\tfloat32-fused\tint8+float32\t5\t100000\t3\t2\t40\tcpu\t148000.0\t139000.0\t"
    "161000.0\t0.9900\t0.9700\t1.0100\t0.9950\t0.9400\n"
)


def per_sequence_table(path: Path, identities: dict[str, float | None], place: bool) -> Path:
    """A per-read / per-piece table; pieces (place=True) lie in consecutive 10 kb windows."""
    lines = [PER_SEQUENCE_HEADER]
    for number, (name, identity) in enumerate(identities.items()):
        if identity is None:
            lines.append(f"{name}\t1000\t0.000000\tNA\tNA\tNA\tNA\n")
        elif place:
            start = number * 10_000
            lines.append(f"{name}\t10000\t{identity}\t1.0\tchr\t{start}\t{start + 10_000}\n")
        else:
            lines.append(f"{name}\t1000\t{identity}\t1.0\tNA\tNA\tNA\n")
    path.write_text("".join(lines))
    return path


def write_row(
    folder: Path,
    variant: str,
    nbytes: int,
    f1: str,
    read_identities: dict[str, float | None],
    pieces: dict[str, float | None] | None = None,
    real_identities: dict[str, float | None] | None = None,
) -> dict:
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
    (base / "speed.tsv").write_text(
        "reads\tskipped\tsamples_per_second\tmedian_read_qscore\n3\t2\t1.5\t9.1\n"
    )
    (folder / "timing.tsv").write_text(TIMING)
    values = [0.0 if v is None else v for v in read_identities.values()]
    median = sorted(values)[len(values) // 2]
    (base / "reads.tsv").write_text(
        f"sequences\taligned\tmedian_identity\tmean_identity\n{len(values)}\t3\t{median}\t0.88\n"
    )
    per_sequence_table(base / "per_read.tsv", read_identities, place=False)
    per_sequence_table(base / "pieces.tsv", pieces or {}, place=True)
    (base / "asm.tsv").write_text(
        "sequences\taligned\tmedian_identity\tmean_identity\n0\t0\tNA\tNA\n"
    )
    (base / "eval.csv").write_text(
        HAPPY_HEADER
        + f"INDEL,ALL,5,1,4,2,1,0,0,0.2,0.5,0,0.2857\nSNP,ALL,10,9,1,9,0,0,0,0.9,1.0,0,{f1}\n"
    )
    real = None
    if real_identities is not None:
        real = str(per_sequence_table(base / "real.tsv", real_identities, place=False))
    return {
        "variant": variant,
        "sample": "demo",
        "stats": str(base / "stats.json"),
        "speed": str(base / "speed.tsv"),
        "timing": str(folder / "timing.tsv"),
        "read_identity": str(base / "reads.tsv"),
        "read_identity_table": str(base / "per_read.tsv"),
        "assembly_draft": str(base / "asm.tsv"),
        "assembly_polished": str(base / "asm.tsv"),
        "assembly_polished_pieces": str(base / "pieces.tsv"),
        "real_read_identity_table": real,
        "evaluation": str(base / "eval.csv"),
    }


ORIGINAL_READS = {"a": 0.90, "b": 0.92, "c": 0.94, "d": None}
SMALL_READS = {"a": 0.88, "b": 0.90, "c": 0.92, "d": None}


def two_variants(folder: Path, real: bool = True) -> list[dict]:
    """original and a 4x smaller variant that loses 0.02 per read, 0.005 per piece, and
    0.01 and 0.02 on the two real reads that the original aligns."""
    variants = (
        ("original", 1000, "0.947", ORIGINAL_READS, (0.99, 0.995, 0.98), (0.85, 0.9)),
        ("small", 250, "0.9", SMALL_READS, (0.985, 0.99, 0.975), (0.84, 0.88)),
    )
    return [
        write_row(
            folder,
            variant,
            nbytes,
            f1,
            reads,
            {f"p{i}": identity for i, identity in enumerate(pieces, start=1)},
            {"r1": real_reads[0], "r2": real_reads[1], "r3": None} if real else None,
        )
        for variant, nbytes, f1, reads, pieces, real_reads in variants
    ]


def test_change_plot_with_only_the_original(tmp_path: Path) -> None:
    """A run of the original alone (nothing to compare) still gets its plot."""
    manifest = two_variants(tmp_path)[:1]
    rows = summary.build_summary(summary.parse_manifest(json.dumps(manifest)), 10)
    plots.plot_identity_change(rows, tmp_path / "change.svg")
    assert "no variant to compare" in (tmp_path / "change.svg").read_text()


def test_summary_says_what_each_variant_was_tuned_on(tmp_path: Path) -> None:
    manifest = two_variants(tmp_path)
    report = tmp_path / "small.report.json"
    report.write_text(json.dumps({"tuned_on": "simulated"}))
    manifest[0]["compress_report"], manifest[1]["compress_report"] = None, str(report)
    rows = summary.build_summary(summary.parse_manifest(json.dumps(manifest)), 10)
    assert [row["tuned_on"] for row in rows] == ["none", "simulated"]
    summary.write_summary(rows, tmp_path / "summary.tsv")
    back = summary.read_summary(tmp_path / "summary.tsv")
    assert [row["tuned_on"] for row in back] == ["none", "simulated"]


def test_summary_rows_ratio_and_metrics(tmp_path: Path) -> None:
    manifest = two_variants(tmp_path)
    rows = summary.build_summary(summary.parse_manifest(json.dumps(manifest)), 200)
    summary.write_summary(rows, tmp_path / "summary.tsv")
    back = {row["variant"]: row for row in summary.read_summary(tmp_path / "summary.tsv")}
    assert back["small"]["compression_ratio"] == 4.0
    assert back["original"]["compression_ratio"] == 1.0
    assert back["small"]["read_identity_median"] == 0.9
    assert back["small"]["reads_skipped"] == 2  # from the basecall's speed.tsv
    assert back["original"]["snp_f1"] == 0.947 and back["original"]["indel_recall"] == 0.2
    assert back["small"]["assembly_identity_polished"] is None  # empty assembly: NA
    header = (tmp_path / "summary.tsv").read_text().splitlines()[0].split("\t")
    assert tuple(header) == summary.COLUMNS


def test_speed_comes_from_the_timing_step(tmp_path: Path) -> None:
    rows = {r["variant"]: r for r in summary.build_summary(two_variants(tmp_path), 200)}
    assert rows["original"]["basecall_samples_per_second"] == 150000.0
    assert rows["original"]["speed_ratio"] == 1.0
    assert (rows["small"]["speed_ratio_min"], rows["small"]["speed_ratio_max"]) == (0.97, 1.01)
    assert (rows["small"]["cpu_speed_ratio"], rows["small"]["cpu_share"]) == (0.995, 0.94)
    assert rows["small"]["execution_path"] == "float32-fused"
    assert rows["small"]["stored_as"] == "int8+float32"  # smaller, run by the float kernel


def test_changes_against_the_original_with_intervals(tmp_path: Path) -> None:
    rows = {r["variant"]: r for r in summary.build_summary(two_variants(tmp_path), 500)}
    original, small = rows["original"], rows["small"]
    for prefix in ("read_identity", "real_read_identity", "assembly_identity"):
        assert original[f"{prefix}_delta"] == 0.0
        assert (original[f"{prefix}_delta_low"], original[f"{prefix}_delta_high"]) == (0.0, 0.0)
    # every aligned read loses 0.02; the unaligned one stays 0
    assert small["read_identity_delta"] == pytest.approx(-0.02)
    assert small["read_identity_delta_low"] <= -0.02 <= small["read_identity_delta_high"]
    # real reads: r3, which the original does not align, has no reference and is left out
    # (counted 0 it would make the median the worst read): medians 0.86 vs 0.875
    assert (small["real_reads"], small["real_reads_without_reference"]) == (2, 1)
    assert small["real_read_identity_median"] == pytest.approx(0.86)
    assert small["real_read_identity_delta"] == pytest.approx(-0.015)
    low, high = small["real_read_identity_delta_low"], small["real_read_identity_delta_high"]
    assert low <= -0.015 <= high
    # every piece loses 0.005, pieces paired by reference window: the interval is the point
    assert small["assembly_identity_delta"] == pytest.approx(-0.005)
    assert small["assembly_identity_delta_low"] == pytest.approx(-0.005)
    assert small["assembly_identity_delta_pairing"] == "paired_windows"


def test_a_real_read_the_variant_loses_counts_zero(tmp_path: Path) -> None:
    """The evaluated reads are those the original aligns; a variant that no longer aligns
    one of them scores 0 on it, as in the Wick median."""
    manifest = two_variants(tmp_path)
    lossy = tmp_path / "lossy"
    lossy.mkdir()
    manifest[1] = write_row(lossy, "small", 250, "0.9", SMALL_READS, {"p1": 0.98}, {"r2": 0.88})
    rows = {r["variant"]: r for r in summary.build_summary(manifest, 100)}
    assert rows["small"]["real_reads"] == 2
    assert rows["small"]["real_read_identity_median"] == pytest.approx(0.44)  # r1 lost: 0


def test_without_real_reads_their_columns_are_na(tmp_path: Path) -> None:
    rows = summary.build_summary(two_variants(tmp_path, real=False), 100)
    summary.write_summary(rows, tmp_path / "summary.tsv")
    for row in summary.read_summary(tmp_path / "summary.tsv"):
        assert row["real_reads"] is None and row["real_read_identity_delta"] is None
        assert row["read_identity_delta"] is not None


def test_manifest_must_name_every_file() -> None:
    with pytest.raises(ModelshrinkError, match="lacks the keys"):
        summary.parse_manifest(json.dumps([{"variant": "x", "sample": "y"}]))


def test_timing_table_without_the_variant_is_one_clear_error(tmp_path: Path) -> None:
    manifest = two_variants(tmp_path)
    Path(manifest[0]["timing"]).write_text(TIMING.rsplit("small", 1)[0].rstrip() + "\n")
    with pytest.raises(ModelshrinkError, match="expected one row of variant 'small', found 0"):
        summary.build_summary(manifest, 100)


def test_pareto_front_keeps_points_nobody_beats() -> None:
    points = [(100.0, 0.9), (50.0, 0.85), (60.0, 0.8), (25.0, 0.0), (100.0, 0.7)]
    assert plots.pareto_front(points) == [3, 1, 0]


def test_plots_are_written(tmp_path: Path) -> None:
    manifest = two_variants(tmp_path)
    summary.write_summary(summary.build_summary(manifest, 100), tmp_path / "summary.tsv")
    rows = summary.read_summary(tmp_path / "summary.tsv")
    plots.plot_read_identity(manifest, tmp_path / "identity.svg")
    plots.plot_size_vs_accuracy(rows, tmp_path / "pareto.svg")
    plots.plot_identity_change(rows, tmp_path / "change.svg")
    plots.plot_f1(rows, tmp_path / "f1.svg")
    for name in ("identity", "pareto", "change", "f1"):
        text = (tmp_path / f"{name}.svg").read_text()
        assert text.lstrip().startswith("<?xml") and "</svg>" in text
    assert "Real R9.4.1 reads" in (tmp_path / "identity.svg").read_text()
    assert "median identity, real reads" in (tmp_path / "pareto.svg").read_text()


def test_violins_zoom_to_the_aligned_reads() -> None:
    """Identities 0.85-0.95 with some unaligned reads: the axis starts near 0.85, not 0."""
    data = [[0.0, 0.0] + [0.85 + 0.001 * i for i in range(100)], [0.9] * 20]
    low, high = plots.zoomed_limits(data)
    assert 0.8 < low < 0.851 and 0.945 < high <= 1.01
    assert plots.zoomed_limits([[0.0, 0.0]]) == (0.0, 1.01)  # nothing aligned: the full range
    plt = plots._pyplot()
    fig, ax = plt.subplots()
    plots.draw_identity_panel(ax, data, ["a", "b"], "t")
    assert ax.get_ylim() == (low, high)
    assert "2 below" in [text.get_text() for text in ax.texts]
    plt.close(fig)


def test_crowded_labels_do_not_overlap() -> None:
    """Ten variants on almost one spot (as fp16 / 8-bit files of one model are)."""
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    points = [(300.0 + i, 0.9 + 0.0005 * (i % 3)) for i in range(10)]
    names = [f"variant_{i}_long" for i in range(10)]
    ax.scatter(*zip(*points, strict=True))
    ax.set_xscale("log")
    ax.set_xlim(100, 1500)
    ax.set_ylim(0.85, 0.95)
    fig.tight_layout()
    annotations = labels.place_labels(ax, points, names)
    renderer = fig.canvas.get_renderer()
    boxes = [labels.text_box(annotation, renderer) for annotation in annotations]
    assert [a.get_text() for a in annotations] == names
    for i, box in enumerate(boxes):
        for other in boxes[i + 1 :]:
            assert not box.overlaps(other), (box, other)
        assert ax.get_window_extent(renderer).contains(box.x0, box.y0)
    plt.close(fig)
