"""merFISH simulation, the original dataset layout, and the checks on bad datasets."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.codebook import bit_index, make_codebook
from modelshrink.merfish.dataset import read_split
from modelshrink.merfish.simulate import groundtruth_path, image_path, write_dataset
from modelshrink.merfish.spec import SimulationSpec

torch.set_num_threads(1)

SPEC = SimulationSpec(image_size=16, train_tiles=2, val_tiles=1, test_tiles=1, emitter_count=5)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("merfish") / "data"
    write_dataset(root, SPEC)
    return root


def test_codebook_is_weight_four_with_minimum_distance_four() -> None:
    codebook = make_codebook(60, seed=3)
    assert codebook.shape == (60, 16)
    assert (codebook.sum(axis=1) == 4).all()
    distances = [int((a != b).sum()) for a, b in itertools.combinations(codebook, 2)]
    assert min(distances) == 4
    assert np.array_equal(codebook, make_codebook(60, seed=3))


def test_codebook_too_large_names_the_key() -> None:
    with pytest.raises(ModelshrinkError, match="codebook_size: 1000"):
        make_codebook(1000, seed=0)


def test_layout_matches_the_original_dataset(dataset: Path) -> None:
    train = dataset / "train"
    assert (train / "1" / "647nm, Raw" / "merFISH_01_001_01.tiff").is_file()
    assert (train / "1" / "750nm, Raw" / "merFISH_08_002_01.tiff").is_file()
    assert len(list((train / "1" / "750nm, Raw").iterdir())) == 8 * 2
    header, *rows = (train / "groundtruths" / "groundtruth_1.csv").read_text().splitlines()
    assert header == "row,column,barcode"
    assert len(rows) == 5 and all(len(row.split(",")[2]) == 16 for row in rows)
    config = (dataset / "config.yml").read_text()
    assert "image_size: 16" in config and "emitter_count: 5" in config


def test_emitters_light_up_exactly_in_their_barcode_rounds(dataset: Path) -> None:
    split_dir = dataset / "train"
    lines = groundtruth_path(split_dir, 1).read_text().splitlines()[1:]
    on, off = [], []
    for line in lines:
        row, column, barcode = line.split(",")
        for channel_index, channel in enumerate(("647nm", "750nm")):
            for round_index in range(8):
                pixel = tifffile.imread(image_path(split_dir, channel, round_index + 1, 1))[
                    int(row), int(column)
                ]
                lit = barcode[bit_index(round_index, channel_index)] == "1"
                (on if lit else off).append(float(pixel))
    # 600 photons spread by a sigma-1 PSF put ~90+ counts on the centre pixel over ~140 of
    # background + offset; OFF rounds can still catch light from a neighbouring emitter.
    assert np.median(on) > np.median(off) + 60
    assert len(on) == 4 * len(lines)


def test_read_split_puts_truth_where_the_csv_says(dataset: Path) -> None:
    split = read_split(dataset, "train")
    assert split.images.shape == (2, 16, 16, 16) and split.images.dtype == torch.float32
    assert int(split.position.sum()) == 2 * 5
    assert int(split.barcode.sum()) == 2 * 5 * 4
    row, column, barcode = (
        groundtruth_path(dataset / "train", 2).read_text().splitlines()[1].split(",")
    )
    bits = split.barcode[1, :, int(row), int(column)]
    assert "".join(str(int(bit)) for bit in bits) == barcode


def test_same_seed_same_files(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_dataset(again, SPEC)
    for name in (
        "train/1/647nm, Raw/merFISH_03_002_01.tiff",
        "test/groundtruths/groundtruth_1.csv",
    ):
        assert (again / name).read_bytes() == (dataset / name).read_bytes()


@pytest.fixture()
def broken(dataset: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(dataset, copy)
    return copy


def test_missing_round_is_named(broken: Path) -> None:
    image_path(broken / "val", "750nm", 5, 1).unlink()
    with pytest.raises(ModelshrinkError, match=r"750nm, Raw: tile 1 has rounds \[1, 2, 3, 4, 6"):
        read_split(broken, "val")


def test_missing_groundtruth_is_named(broken: Path) -> None:
    groundtruth_path(broken / "train", 2).unlink()
    with pytest.raises(ModelshrinkError, match=r"groundtruth_2\.csv: missing for tile 2"):
        read_split(broken, "train")


def test_inconsistent_image_size_is_named(broken: Path) -> None:
    path = image_path(broken / "test", "647nm", 3, 1)
    tifffile.imwrite(path, np.zeros((20, 16), dtype=np.uint16))
    with pytest.raises(
        ModelshrinkError, match=r"merFISH_03_001_01.tiff: image of shape \(20, 16\)"
    ):
        read_split(broken, "test")


def test_wrong_barcode_length_is_named(broken: Path) -> None:
    path = groundtruth_path(broken / "test", 1)
    lines = path.read_text().splitlines()
    row, column, _ = lines[2].split(",")
    lines[2] = f"{row},{column},0101"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelshrinkError, match=r"groundtruth_1.csv:3: barcode '0101' is not a 16"):
        read_split(broken, "test")


def test_bad_simulation_key_is_named() -> None:
    with pytest.raises(ModelshrinkError, match=r"merfish\.simulation: unknown key.*image_sise"):
        SimulationSpec.from_mapping({"image_sise": 32})
    with pytest.raises(
        ModelshrinkError, match=r"merfish\.simulation\.image_size: expected a multiple"
    ):
        SimulationSpec.from_mapping({"image_size": 30})
