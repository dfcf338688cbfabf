"""Probability maps of one variant, true emitters overlaid (`merfish evaluate --maps`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from modelshrink.atomic import atomic_output


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Written atomically at 120 dpi, the figure closed (merFISH figures are PNGs)."""
    try:
        with atomic_output(path, suffix=Path(path).suffix) as temporary:
            figure.savefig(temporary, dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)


def plot_probability_maps(
    position_probability: np.ndarray, position_truth: np.ndarray, path: Path, tiles: int = 3
) -> None:
    """Position probability of the first `tiles` tiles, true emitters circled."""
    count = min(tiles, len(position_probability))
    figure, axes = plt.subplots(1, count, figsize=(4 * count, 4), squeeze=False)
    for axis, probability, truth in zip(
        axes[0], position_probability, position_truth, strict=False
    ):
        image = axis.imshow(probability, vmin=0, vmax=1, cmap="magma")
        rows, columns = np.nonzero(truth)
        axis.scatter(columns, rows, s=60, facecolors="none", edgecolors="cyan", linewidths=1)
        axis.set_axis_off()
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="P(emitter)")
    save_figure(figure, path)
