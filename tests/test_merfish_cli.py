"""`modelshrink merfish ...` end to end on files, as a Snakemake rule would call it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from modelshrink.cli import main

torch.set_num_threads(1)

TINY = [
    "--param", "simulation.image_size=16", "--param", "simulation.train_tiles=4",
    "--param", "simulation.val_tiles=1", "--param", "simulation.test_tiles=2",
    "--param", "simulation.emitter_count=4",
]  # fmt: skip


def test_simulate_train_compress_evaluate_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, models, results = tmp_path / "data", tmp_path / "models", tmp_path / "results"
    config = tmp_path / "config.yaml"
    config.write_text(
        "merfish:\n  model: {width: 0.125}\n  train: {epochs: 1, batch_size: 2}\n"
        "  variants:\n    sparse60: {method: prune, sparsity: 0.6, epochs: 1}\n"
    )
    assert main(["merfish", "simulate", "--out", str(data), *TINY]) == 0
    float_model = models / "float32.safetensors"
    history = models / "history.json"
    assert main(["merfish", "train", "--config", str(config), "--data", str(data),
                 "--out", str(float_model), "--history", str(history)]) == 0  # fmt: skip
    assert json.loads(history.read_text())["history"][-1]["epoch"] == 1
    pruned = models / "sparse60.safetensors"
    assert main(["merfish", "compress", "--config", str(config), "--model", str(float_model),
                 "--data", str(data), "--variant", "sparse60", "--out", str(pruned),
                 "--summary", str(models / "sparse60.json")]) == 0  # fmt: skip
    summary = json.loads((models / "sparse60.json").read_text())
    assert summary["variant"] == "pruned" and summary["stored_bytes"] == pruned.stat().st_size
    assert summary["stored_bytes"] < float_model.stat().st_size
    for model in (float_model, pruned):
        out = results / f"{model.stem}.json"
        curves, maps = results / f"{model.stem}.tsv", results / f"{model.stem}.png"
        assert main(["merfish", "evaluate", "--model", str(model), "--data", str(data),
                     "--out", str(out), "--curves", str(curves), "--maps", str(maps),
                     "--repeats", "2", "--reference", str(float_model)]) == 0  # fmt: skip
        metrics = json.loads(out.read_text())
        assert metrics["tiles"] == 2 and metrics["threads"] == 1
        assert 0 <= metrics["position_accuracy"] <= 1 and metrics["seconds_per_tile"] > 0
        assert metrics["tiles_per_call"] == 2 and metrics["timing_repeats"] == 2
        assert metrics["reference_seconds_per_tile"] > 0 and metrics["speedup"] > 0
    assert metrics["execution_path"] == "eager float32 (stored sparse, dense kernels)"
    assert main(["merfish", "evaluate", "--model", str(float_model), "--data", str(data),
                 "--out", str(results / "x.json"), "--reference", str(pruned)]) == 1  # fmt: skip
    assert "sparse60.safetensors: is a pruned model; expected float32" in capsys.readouterr().err
    curves = results / "curves.png"
    assert main(["report", "merfish-plots", "--curves", str(results / "float32.tsv"),
                 str(results / "sparse60.tsv"), "--curves-plot", str(curves)]) == 0  # fmt: skip
    assert curves.stat().st_size > 10_000 and (results / "float32.png").is_file()


def test_bad_input_gives_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["merfish", "simulate", "--out", str(tmp_path / "d"),
                 "--param", "simulation.emitters=3"]) == 1  # fmt: skip
    assert "merfish.simulation: unknown key(s) emitters" in capsys.readouterr().err
    assert main(["merfish", "evaluate", "--model", str(tmp_path / "none.safetensors"),
                 "--data", str(tmp_path), "--out", str(tmp_path / "m.json")]) == 1  # fmt: skip
    assert "split folder missing" in capsys.readouterr().err
    assert main(["merfish", "compress", "--model", str(tmp_path / "none.safetensors"),
                 "--data", str(tmp_path), "--variant", "nonsense",
                 "--out", str(tmp_path / "v.safetensors")]) == 1  # fmt: skip
    assert "no variant 'nonsense'" in capsys.readouterr().err
