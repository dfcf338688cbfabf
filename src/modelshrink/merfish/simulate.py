"""Synthetic merFISH tiles written in the original dataset's layout.

Layout (what users of the original data point the workflow at):
`{split}/1/647nm, Raw/merFISH_{round:02d}_{tile:03d}_01.tiff` (rounds 01..08, tiles from 001),
the same under `750nm, Raw`, `{split}/groundtruths/groundtruth_{tile}.csv` (columns row, column,
barcode as a bit string) and `config.yml` with the simulation settings.

Emitters sit at the centre of their ground-truth pixel, moved by at most `subpixel_jitter`
pixels (0 by default: with large jitter the truth pixel is ambiguous and no detector can
reach the original's accuracies).

Image model per round and channel: an emitter whose barcode bit for that round/channel is ON
adds a pixel-integrated Gaussian spot of `photons` x (per-emitter lognormal brightness); then a
flat background, Poisson shot noise, Gaussian camera read noise and a camera offset, stored as
uint16 counts.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tifffile
import yaml

from modelshrink.merfish.codebook import bit_index, make_codebook, to_bit_string
from modelshrink.merfish.spec import CHANNELS, ROUNDS, SimulationSpec

SPLITS = ("train", "val", "test")
_SPLIT_SEED_OFFSET = {"train": 0, "val": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class Tile:
    images: np.ndarray  # (channels, rounds, H, W) uint16 camera counts
    rows: np.ndarray  # emitter pixel rows
    columns: np.ndarray  # emitter pixel columns
    barcodes: np.ndarray  # (emitters, 16) bool


def channel_dir(split_dir: Path, channel: str) -> Path:
    return split_dir / "1" / f"{channel}, Raw"


def image_path(split_dir: Path, channel: str, round_number: int, tile: int) -> Path:
    """`round_number` and `tile` as they appear in file names (both start at 1 here)."""
    return channel_dir(split_dir, channel) / f"merFISH_{round_number:02d}_{tile:03d}_01.tiff"


def groundtruth_path(split_dir: Path, tile: int) -> Path:
    return split_dir / "groundtruths" / f"groundtruth_{tile}.csv"


def _pixel_integrated_psf(offset: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """Fraction of a spot at sub-pixel `offset` that lands on each pixel of a 1-D axis."""
    edges = np.arange(size + 1, dtype=np.float64)[None, :] - offset[:, None]
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(edges / (sigma * math.sqrt(2.0))))
    return np.diff(cdf, axis=1)


def simulate_tile(rng: np.random.Generator, spec: SimulationSpec, codebook: np.ndarray) -> Tile:
    size = spec.image_size
    pixels = rng.choice(size * size, size=spec.emitter_count, replace=False)
    rows, columns = np.divmod(pixels, size)
    jitter = spec.subpixel_jitter
    centre_rows = rows + 0.5 + rng.uniform(-jitter, jitter, spec.emitter_count)
    centre_columns = columns + 0.5 + rng.uniform(-jitter, jitter, spec.emitter_count)
    barcodes = codebook[rng.integers(0, len(codebook), spec.emitter_count)]
    brightness = spec.photons * rng.lognormal(0.0, 0.25, spec.emitter_count)
    spots = np.einsum(
        "er,ec->erc",
        _pixel_integrated_psf(centre_rows, size, spec.psf_sigma),
        _pixel_integrated_psf(centre_columns, size, spec.psf_sigma),
    )
    images = np.empty((len(CHANNELS), ROUNDS, size, size), dtype=np.uint16)
    for channel in range(len(CHANNELS)):
        for round_index in range(ROUNDS):
            on = barcodes[:, bit_index(round_index, channel)]
            signal = np.einsum("e,erc->rc", brightness * on, spots)
            photons = rng.poisson(spec.background + signal)
            counts = photons + rng.normal(0.0, spec.read_noise, photons.shape) + spec.camera_offset
            images[channel, round_index] = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)
    return Tile(images=images, rows=rows, columns=columns, barcodes=barcodes)


def _write_split(split_dir: Path, tiles: list[Tile]) -> None:
    for channel in CHANNELS:
        channel_dir(split_dir, channel).mkdir(parents=True)
    (split_dir / "groundtruths").mkdir()
    for number, tile in enumerate(tiles, start=1):
        for channel_index, channel in enumerate(CHANNELS):
            for round_index in range(ROUNDS):
                tifffile.imwrite(
                    image_path(split_dir, channel, round_index + 1, number),
                    tile.images[channel_index, round_index],
                )
        lines = ["row,column,barcode"] + [
            f"{row},{column},{to_bit_string(word)}"
            for row, column, word in zip(tile.rows, tile.columns, tile.barcodes, strict=True)
        ]
        groundtruth_path(split_dir, number).write_text("\n".join(lines) + "\n")


def write_dataset(out_dir: Path, spec: SimulationSpec) -> None:
    """Simulate all splits into `out_dir`, replacing it atomically (build beside it, rename)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    codebook = make_codebook(spec.codebook_size, spec.seed)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        counts = {"train": spec.train_tiles, "val": spec.val_tiles, "test": spec.test_tiles}
        for split in SPLITS:
            rng = np.random.default_rng([spec.seed, _SPLIT_SEED_OFFSET[split]])
            tiles = [simulate_tile(rng, spec, codebook) for _ in range(counts[split])]
            _write_split(staging / split, tiles)
        config = {
            "simulation": {
                "image_size": spec.image_size,
                "tile_count": counts,
                "emitter_count": spec.emitter_count,
                **{
                    key: value
                    for key, value in dataclasses.asdict(spec).items()
                    if key not in {"image_size", "emitter_count"} and not key.endswith("_tiles")
                },
            },
            "codebook": [to_bit_string(word) for word in codebook],
        }
        (staging / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        staging.chmod(0o755)  # mkdtemp makes 0700; the dataset is meant to be shared
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
