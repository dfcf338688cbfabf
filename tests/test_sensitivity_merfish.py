"""The merFISH U-Net's sensitivity scan on a tiny trained network (16 x 16 tiles)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelshrink.cli import main
from modelshrink.merfish import storage
from modelshrink.merfish.dataset import read_split
from modelshrink.merfish.simulate import write_dataset
from modelshrink.merfish.spec import ModelSpec, SimulationSpec, TrainSpec
from modelshrink.merfish.train import new_model, train_model
from modelshrink.sensitivity.grid import read_rows
from modelshrink.sensitivity.merfish_scan import METRICS, conv_blocks

torch.set_num_threads(1)

LOSSES = [f"{name}_loss_points" for name in METRICS]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torch.nn.Module]:
    folder = tmp_path_factory.mktemp("merfish_sensitivity")
    data = folder / "data"
    spec = SimulationSpec(image_size=16, train_tiles=6, val_tiles=4, test_tiles=2, emitter_count=4)
    write_dataset(data, spec)
    model = new_model(ModelSpec(width=0.125), seed=0)
    train = TrainSpec(epochs=2, batch_size=4, learning_rate=3e-3)
    train_model(model, read_split(data, "train"), read_split(data, "val"), train)
    path = folder / "float32.safetensors"
    storage.save_float(path, model, "float32", 16)
    return path, data, model


def test_blocks_are_the_unet_levels_and_heads(trained) -> None:
    blocks = conv_blocks(trained[2])
    assert len(blocks) == 3 * 5 + 2
    assert blocks["stage2.bottleneck"] == [f"stage2.bottleneck.{i}.weight" for i in (0, 3, 6)]
    assert blocks["position_head"] == ["position_head.0.weight", "position_head.2.weight"]


def test_scan_rows_cover_every_block_and_setting(trained, tmp_path: Path) -> None:
    model, data, _ = trained
    table, heatmap = tmp_path / "scan.tsv", tmp_path / "scan.svg"
    argv = ["sensitivity", "merfish", str(model), "--data", str(data), "--sparsities", "0", "0.9"]
    assert main([*argv, "--bits", "8", "2", "-o", str(table), "--heatmap", str(heatmap)]) == 0
    assert heatmap.read_text().startswith("<?xml")
    rows = read_rows(table, ["value", "parameters", *METRICS, *LOSSES])
    assert len(rows) == 17 * (1 + 4)
    for row in rows:
        if row["kind"] == "none" or (row["kind"] == "sparsity" and row["value"] == 0):
            assert [row[loss] for loss in LOSSES] == [0, 0, 0, 0], row
    # 90 % of a whole bottleneck gone, or 2-bit weights: the maps change somewhere
    damaged = [
        row
        for row in rows
        if (row["kind"], row["value"]) in (("sparsity", 0.9), ("bits", 2))
        and any(row[loss] != 0 for loss in LOSSES)
    ]
    assert damaged


def test_the_settings_file_sets_the_grid(trained, tmp_path: Path) -> None:
    """The workflow's convention: rules/sensitivity.smk hands the grid over as --settings."""
    model, data, _ = trained
    settings, table = tmp_path / "settings.json", tmp_path / "scan.tsv"
    settings.write_text('{"sensitivity": {"sparsities": [0.5], "bits": [4]}}')
    argv = ["sensitivity", "merfish", str(model), "--data", str(data), "-o", str(table)]
    assert main([*argv, "--settings", str(settings)]) == 0
    rows = read_rows(table, ["value", "parameters", *METRICS, *LOSSES])
    assert {(row["kind"], row["value"]) for row in rows} == {
        ("none", 0),
        ("sparsity", 0.5),
        ("bits", 4),
    }


def test_an_unknown_sensitivity_setting_is_named(trained, tmp_path: Path, capsys) -> None:
    model, data, _ = trained
    settings = tmp_path / "settings.json"
    settings.write_text('{"sensitivity": {"budget_points": 0.5}}')
    argv = ["sensitivity", "merfish", str(model), "--data", str(data), "-o", str(tmp_path / "t")]
    assert main([*argv, "--settings", str(settings)]) == 1
    assert "unknown setting sensitivity.budget_points" in capsys.readouterr().err
