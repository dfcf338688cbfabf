"""`modelshrink timing` on the five real R9.4.1 reads: one row per model, interleaved runs,
the execution path of each stored form. No wall-clock thresholds: only what must hold
whatever the machine's speed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from modelshrink.basecaller.compress import int8_path
from modelshrink.basecaller.model_file import execution_path, load_basecaller, stored_as
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.timing import (
    TimedRun,
    neighbouring_baselines,
    round_order,
    select_reads,
    timing_batch_size,
)
from modelshrink.cli import main


def _table(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path) -> dict[str, Path]:
    """The converted original and three stored forms of it."""
    folder = tmp_path_factory.mktemp("models")
    original = folder / "original.safetensors"
    assert main(["convert", str(taiyaki_checkpoint), str(original)]) == 0
    specs = {
        "fp16": '{"quantize": {"scheme": "float16"}}',
        "scale8": '{"quantize": {"scheme": "scale", "bits": 8}}',
        "dynamic_int8": '{"quantize": {"scheme": "dynamic_int8"}}',
    }
    paths = {"original": original}
    for name, spec in specs.items():
        paths[name] = folder / f"{name}.safetensors"
        argv = ["compress", str(original), str(paths[name]), "--name", name, "--spec", spec]
        assert main([*argv, "--no-progress"]) == 0
    return paths


def test_execution_path_names_the_kernel_and_stored_as_the_encodings(
    models: dict[str, Path], taiyaki_checkpoint: Path
) -> None:
    assert stored_as(models["original"]) == "float32"
    assert stored_as(taiyaki_checkpoint) == "taiyaki_checkpoint"
    assert "float16" in stored_as(models["fp16"]).split("+")
    assert "int8" in stored_as(models["scale8"]).split("+")
    # stored compactly, decoded to float32: the float kernel runs it
    assert execution_path(load_basecaller(models["fp16"]), "cpu") == "float32-fused"
    int8_kernel = int8_path.available_paths(torch.device("cpu"))[0]
    dynamic = load_basecaller(models["dynamic_int8"])
    assert execution_path(dynamic, "cpu") == f"int8-{int8_kernel}"


def test_every_variant_runs_between_two_baseline_runs() -> None:
    assert round_order("original", ["a", "b"]) == ["original", "a", "original", "b", "original"]
    runs = [
        TimedRun(round_number, position, name, 1, 100, 1.0, 1.0)
        for round_number in (1, 2)
        for position, name in enumerate(round_order("o", ["a", "b"]), start=1)
    ]
    neighbours = neighbouring_baselines(runs, "o")
    assert [(n.round, n.position) for n in neighbours[6]] == [(2, 1), (2, 3)]  # a, round 2
    assert [(n.round, n.position) for n in neighbours[3]] == [(1, 3), (1, 5)]  # b, round 1
    cut_short = neighbouring_baselines(runs[:4], "o")  # the round's last baseline run missing
    assert [(n.round, n.position) for n in cut_short[3]] == [(1, 3)]


def test_subset_and_batch_size_give_every_thread_work(shared_data: Path) -> None:
    reads = list(iter_reads(find_read_files([shared_data / "taiyaki" / "reads"])))
    lengths = [len(read.raw) for read in reads]
    subset = select_reads(reads, lengths[0] + 1)
    assert [read.read_id for read in subset] == [read.read_id for read in reads[:2]]
    assert len(select_reads(reads, 10**9)) == len(reads)
    # chunks of 4000 samples overlapping by 400 (Taiyaki's 1000/100 steps x stride 4)
    chunks = sum(len(range(4000, n, 3600)) + 1 for n in lengths if n >= 4000)
    assert timing_batch_size(reads, 4000, 400, 2, 128) == -(-chunks // 2)
    assert timing_batch_size(reads, 4000, 400, 1, 3) == 3  # never above the largest


def test_timing_rows_ratios_and_interleaved_runs(
    models: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    output, runs = tmp_path / "timing.tsv", tmp_path / "runs.tsv"
    names = ("original", "fp16")
    argv = ["timing", *(f"{name}={models[name]}" for name in names)]
    argv += ["--reads", str(shared_data / "taiyaki" / "reads"), "-o", str(output)]
    argv += ["--runs", str(runs), "--max-samples", "1", "--repeats", "2", "--threads", "2"]
    assert main([*argv, "--device", "cpu"]) == 0
    rows = {row["variant"]: row for row in _table(output)}
    assert list(rows) == list(names)
    assert float(rows["original"]["speed_ratio"]) == float(rows["original"]["cpu_speed_ratio"]) == 1
    assert rows["original"]["execution_path"] == rows["fp16"]["execution_path"] == "float32-fused"
    assert rows["original"]["stored_as"] == "float32"
    assert "float16" in rows["fp16"]["stored_as"].split("+")
    for row in rows.values():
        assert float(row["samples_per_second"]) > 0 and float(row["speed_ratio"]) > 0
        assert float(row["cpu_speed_ratio"]) > 0 and float(row["cpu_share"]) > 0
        assert row["repeats"] == "2" and row["threads"] == "2" and row["device"] == "cpu"
        assert row["samples"] == rows["original"]["samples"]  # the same reads for every model
        assert row["reads"] == "1"  # --max-samples 1: the first read alone
    order = [(run["round"], run["variant"]) for run in _table(runs)]
    assert order == [(r, name) for r in ("1", "2") for name in round_order(names[0], names[1:])]


def test_a_model_past_its_time_budget_sits_out_later_rounds(
    models: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    output, runs = tmp_path / "timing.tsv", tmp_path / "runs.tsv"
    argv = ["timing", f"fp16={models['fp16']}", f"original={models['original']}"]
    argv += ["--baseline", "original", "--reads", str(shared_data / "taiyaki" / "reads")]
    argv += ["-o", str(output), "--runs", str(runs), "--max-samples", "1", "--repeats", "2"]
    assert main([*argv, "--max-seconds", "0", "--device", "cpu"]) == 0
    rows = {row["variant"]: row for row in _table(output)}
    assert rows["original"]["repeats"] == "2" and rows["fp16"]["repeats"] == "1"
    assert float(rows["original"]["speed_ratio"]) == 1.0
    ran = [run["variant"] for run in _table(runs)]
    assert ran == ["original", "fp16", "original", "original"]  # round 2 without fp16


def test_unknown_baseline_is_one_clear_error(
    models: dict[str, Path], shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["timing", f"original={models['original']}", "--baseline", "fp32"]
    argv += ["--reads", str(shared_data / "taiyaki" / "reads"), "-o", str(tmp_path / "t.tsv")]
    assert main(argv) == 1
    assert "--baseline 'fp32' is not one of the models ['original']" in capsys.readouterr().err
    assert not (tmp_path / "t.tsv").exists()
