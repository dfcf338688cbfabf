"""The merFISH summary table and plots from the compress/evaluate JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelshrink.cli import main
from modelshrink.errors import ModelshrinkError
from modelshrink.report import merfish_summary


def write_variant(
    folder: Path, name: str, method: str, stored_as: str, nbytes: int, ms: float, **extra: object
) -> dict[str, str]:
    compress, evaluation = folder / f"{name}.compress.json", folder / f"{name}.eval.json"
    info = (
        {"note": "torch.ao dynamic quantization covers\nLinear only"} if method == "dynamic" else {}
    )
    compress.write_text(
        json.dumps(
            {
                "variant": stored_as,
                "stored_bytes": nbytes,
                "parameters": 1000,
                "nonzero_parameters": 500 if method == "prune" else 1000,
                "macs": 64000,
                "nonzero_macs": 32000 if method == "prune" else 64000,
                "info": info,
            }
        )
    )
    evaluation.write_text(
        json.dumps(
            {
                "variant": stored_as,
                "stored_bytes": nbytes,
                "tiles": 4,
                "position_accuracy": 0.9,
                "position_jaccard": 0.8,
                "barcode_accuracy": 0.7,
                "barcode_jaccard": 0.6,
                "position_average_precision": 0.85,
                "barcode_average_precision": 0.5,
                "seconds_per_tile": ms / 1000,
                "threads": 1,
                "runtime": "eager",
                **extra,
            }
        )
    )
    return {
        "variant": name,
        "method": method,
        "compress": str(compress),
        "evaluation": str(evaluation),
    }


@pytest.fixture
def manifest(tmp_path: Path) -> list[dict[str, str]]:
    return [
        write_variant(tmp_path, "float32", "float32", "float32", 4000, 10.0),
        write_variant(tmp_path, "dyn", "dynamic", "dynamic_int8", 4000, 10.0),
        write_variant(
            tmp_path,
            "int8",
            "static",
            "static_int8",
            1000,
            4.0,
            runtime="onednn",
            int8_convolutions=49,
        ),
    ]


def test_ratio_and_speedup_are_against_float32(
    manifest: list[dict[str, str]], tmp_path: Path
) -> None:
    rows = merfish_summary.build_summary(manifest)
    output = tmp_path / "summary.tsv"
    merfish_summary.write_summary(rows, output)
    back = {row["variant"]: row for row in merfish_summary.read_summary(output)}
    assert back["float32"]["compression_ratio"] == 1.0 and back["float32"]["speedup"] == 1.0
    assert back["int8"]["compression_ratio"] == 4.0 and back["int8"]["speedup"] == 2.5
    assert back["int8"]["execution_path"] == "onednn" and back["int8"]["int8_convolutions"] == 49
    assert back["float32"]["int8_convolutions"] is None  # NA
    assert back["int8"]["ms_per_tile"] == 4.0 and back["int8"]["macs_per_tile"] == 64000
    assert back["dyn"]["note"] == "torch.ao dynamic quantization covers Linear only"
    header = output.read_text().splitlines()[0].split("\t")
    assert tuple(header) == merfish_summary.COLUMNS


def test_without_float32_the_ratio_is_against_the_trained_model(
    manifest: list[dict[str, str]], tmp_path: Path
) -> None:
    trained = tmp_path / "trained.safetensors"
    trained.write_bytes(b"x" * 2000)
    rows = merfish_summary.build_summary(manifest[1:], trained)
    by_name = {row["variant"]: row for row in rows}
    assert by_name["int8"]["compression_ratio"] == 2.0 and by_name["int8"]["speedup"] is None


def test_speedup_timed_against_float32_in_the_same_job_wins(tmp_path: Path) -> None:
    """Separate jobs on a busy machine time under different load: an evaluation that timed
    the float32 model itself, interleaved, gives the speed-up; the reference row stays 1."""
    path = "onednn int8 conv + fused glue, channels-last (avx2, no vnni)"
    measured = {"execution_path": path, "tiles_per_call": 32, "speedup": 1.8}
    manifest = [
        write_variant(tmp_path, "float32", "float32", "float32", 4000, 10.0, speedup=0.97),
        write_variant(tmp_path, "int8", "static", "static_int8", 1000, 4.0, **measured),
    ]
    rows = {row["variant"]: row for row in merfish_summary.build_summary(manifest)}
    assert rows["float32"]["speedup"] == 1.0
    assert rows["int8"]["speedup"] == 1.8  # not 10 / 4 from the two jobs' own times
    assert rows["int8"]["execution_path"] == path and rows["int8"]["tiles_per_call"] == 32
    alone = merfish_summary.build_summary(manifest[1:])  # no float32 variant: still measured
    assert alone[0]["speedup"] == 1.8


def test_cli_writes_table_and_plots(manifest: list[dict[str, str]], tmp_path: Path) -> None:
    listing = tmp_path / "manifest.json"
    listing.write_text(json.dumps(manifest))
    table = tmp_path / "out" / "summary.tsv"
    assert main(["report", "merfish", "--manifest", f"@{listing}", "-o", str(table)]) == 0
    size, speed = tmp_path / "size.svg", tmp_path / "speed.svg"
    assert main(["report", "merfish-plots", "--summary", str(table),
                 "--size-plot", str(size), "--speed-plot", str(speed)]) == 0  # fmt: skip
    assert size.stat().st_size > 5000 and speed.stat().st_size > 5000


def test_bad_inputs_name_the_file(manifest: list[dict[str, str]], tmp_path: Path) -> None:
    with pytest.raises(ModelshrinkError, match="lacks the keys"):
        merfish_summary.parse_manifest(json.dumps([{"variant": "x"}]))
    Path(manifest[0]["evaluation"]).write_text(json.dumps({"stored_bytes": 1}))
    with pytest.raises(ModelshrinkError, match=r"float32\.eval\.json: lacks 'seconds_per_tile'"):
        merfish_summary.build_summary(manifest)
    with pytest.raises(ModelshrinkError, match="not a merFISH summary"):
        merfish_summary.read_summary(Path(manifest[0]["evaluation"]))
