"""Read and check a merFISH dataset in the original layout (see `simulate` for the layout).

Every problem (a missing round, a missing ground-truth file, images of different sizes, a bad
barcode string) is reported with the file it concerns before any training starts. Tile numbers
and round numbers are taken from the file names, so 0- and 1-based numbering both work.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import numpy as np
import tifffile
import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.codebook import from_bit_string
from modelshrink.merfish.simulate import channel_dir
from modelshrink.merfish.spec import BITS, CHANNELS, ROUNDS

_IMAGE_NAME = re.compile(r"merFISH_(\d+)_(\d+)_01\.tiff?$")
_GROUNDTRUTH_NAME = re.compile(r"groundtruth_(\d+)\.csv$")


@dataclasses.dataclass(frozen=True)
class MerfishSplit:
    """One split in memory, ready for the network.

    images: (tiles, 16, H, W) float32, 8 rounds of 647 nm then 8 of 750 nm, normalised per tile.
    position: (tiles, H, W) bool, True on emitter pixels.
    barcode: (tiles, 16, H, W) bool, the emitter's barcode bits on emitter pixels.
    """

    images: torch.Tensor
    position: torch.Tensor
    barcode: torch.Tensor
    tiles: tuple[int, ...]

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return len(self.tiles)


def normalise_tile(raw: np.ndarray) -> np.ndarray:
    """Subtract each image's median (background) and divide by the tile's spread.

    One scale per tile, not per image, keeps an OFF round dark next to an ON round.
    """
    raw = raw.astype(np.float32)
    centred = raw - np.median(raw, axis=(-2, -1), keepdims=True)
    return centred / (float(centred.std()) + 1e-6)


def _index_images(folder: Path) -> dict[int, dict[int, Path]]:
    """tile -> round -> file for one channel folder."""
    if not folder.is_dir():
        raise ModelshrinkError(f"{folder}: channel folder missing; expected merFISH_RR_TTT_01.tiff")
    found: dict[int, dict[int, Path]] = {}
    for path in folder.iterdir():
        match = _IMAGE_NAME.match(path.name)
        if match:
            found.setdefault(int(match.group(2)), {})[int(match.group(1))] = path
    return found


def _read_groundtruth(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixels as (n, 2) int array, barcodes as (n, 16) bool) from one ground-truth CSV."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"row", "column", "barcode"} - set(reader.fieldnames or [])
        if missing:
            raise ModelshrinkError(
                f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                "expected header row,column,barcode"
            )
        pixels, words = [], []
        for line_number, record in enumerate(reader, start=2):
            where = f"{path}:{line_number}"
            try:
                row, column = int(record["row"]), int(record["column"])
            except (TypeError, ValueError) as error:
                raise ModelshrinkError(f"{where}: row and column must be integers") from error
            if not (0 <= row < size and 0 <= column < size):
                raise ModelshrinkError(f"{where}: pixel ({row}, {column}) outside {size}x{size}")
            pixels.append((row, column))
            words.append(from_bit_string(record["barcode"] or "", where))
    return np.array(pixels, dtype=np.int64).reshape(-1, 2), np.array(words, bool).reshape(-1, BITS)


def read_split(root: Path, split: str) -> MerfishSplit:
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise ModelshrinkError(f"{split_dir}: split folder missing (expected train, val, test)")
    truth_dir = split_dir / "groundtruths"
    truths = {
        int(match.group(1)): path
        for path in (truth_dir.iterdir() if truth_dir.is_dir() else [])
        if (match := _GROUNDTRUTH_NAME.match(path.name))
    }
    indexes = [_index_images(channel_dir(split_dir, channel)) for channel in CHANNELS]
    tiles = sorted(set(truths) | set(indexes[0]) | set(indexes[1]))
    if not tiles:
        raise ModelshrinkError(f"{split_dir}: no tiles found (no images, no ground truth)")
    images, positions, barcodes = [], [], []
    shape: tuple[int, ...] | None = None
    for tile in tiles:
        if tile not in truths:
            raise ModelshrinkError(f"{truth_dir}/groundtruth_{tile}.csv: missing for tile {tile}")
        stack = []
        for channel, index in zip(CHANNELS, indexes, strict=True):
            rounds = index.get(tile, {})
            if len(rounds) != ROUNDS:
                raise ModelshrinkError(
                    f"{channel_dir(split_dir, channel)}: tile {tile} has rounds "
                    f"{sorted(rounds) or 'none'}; expected {ROUNDS} rounds"
                )
            for round_number in sorted(rounds):
                path = rounds[round_number]
                image = tifffile.imread(path)
                if image.ndim != 2 or (shape is not None and image.shape != shape):
                    raise ModelshrinkError(
                        f"{path}: image of shape {image.shape}; expected {shape or '2-D'} "
                        "like the other images of the dataset"
                    )
                shape = image.shape
                stack.append(image)
        if shape is None or shape[0] != shape[1] or shape[0] % 4:
            raise ModelshrinkError(
                f"{split_dir}: images are {shape}; expected square tiles with a side divisible by 4"
            )
        pixels, words = _read_groundtruth(truths[tile], shape[0])
        position = np.zeros(shape, dtype=bool)
        barcode = np.zeros((BITS, *shape), dtype=bool)
        position[pixels[:, 0], pixels[:, 1]] = True
        barcode[:, pixels[:, 0], pixels[:, 1]] = words.T
        images.append(normalise_tile(np.stack(stack)))
        positions.append(position)
        barcodes.append(barcode)
    return MerfishSplit(
        images=torch.from_numpy(np.stack(images)),
        position=torch.from_numpy(np.stack(positions)),
        barcode=torch.from_numpy(np.stack(barcodes)),
        tiles=tuple(tiles),
    )
