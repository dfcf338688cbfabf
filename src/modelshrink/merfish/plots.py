"""Figures for the report: PR/ROC curves per variant and probability maps with truth overlaid."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from modelshrink.atomic import atomic_output
from modelshrink.merfish.metrics import Curve


def _save(figure: plt.Figure, path: Path) -> None:
    try:
        with atomic_output(path, suffix=Path(path).suffix) as temporary:
            figure.savefig(temporary, dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)


def plot_curves(curves: Mapping[str, Mapping[str, Curve]], path: Path) -> None:
    """`curves[variant]["position" | "barcode"]` -> a 2x2 grid: PR and ROC for each target."""
    figure, axes = plt.subplots(2, 2, figsize=(9, 8))
    for row, target in enumerate(("position", "barcode")):
        for variant, by_target in curves.items():
            curve = by_target[target]
            axes[row, 0].plot(
                curve.recall, curve.precision, label=f"{variant} (AP {curve.average_precision:.3f})"
            )
            axes[row, 1].plot(
                curve.false_positive_rate,
                curve.true_positive_rate,
                label=f"{variant} (AUC {curve.roc_auc:.3f})",
            )
        axes[row, 0].set(title=f"{target}: precision-recall", xlabel="recall", ylabel="precision")
        axes[row, 1].set(
            title=f"{target}: ROC",
            xlabel="false positive rate",
            ylabel="true positive rate",
            xscale="log",
        )
        for axis in axes[row]:
            axis.legend(fontsize=7)
    _save(figure, path)


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
    _save(figure, path)
