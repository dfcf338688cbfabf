"""The merFISH report's figures, drawn from results/merfish/summary.tsv.

Why these two: the question the original merFISH work answered was "how much smaller and
faster, for how much accuracy?" — a size vs accuracy plot with its Pareto front answers the
first half for both outputs of the network (positions and barcodes), and a time-per-tile bar
chart, labelled with the speed-up and the execution path, answers the second (an int8 file
that runs in float arithmetic is smaller but not faster, and the plot should show that).
PR/ROC curves of every variant (`merfish evaluate --curves` tables) share one figure.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.metrics import Curve
from modelshrink.merfish.probability_maps import save_figure
from modelshrink.report.plots import (
    SizePanel,
    _pyplot,
    _save,
    draw_size_panel,
    finish_size_plot,
)

ACCURACIES = (
    ("position_accuracy", "position accuracy (p > 0.5)"),
    ("barcode_accuracy", "barcode accuracy (p > 0.9)"),
)


def plot_size_vs_accuracy(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    """Stored KiB (log) against position and barcode accuracy, Pareto front in red."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    panels = []
    for ax, (column, title) in zip(axes, ACCURACIES, strict=True):
        usable = [r for r in rows if r.get("bytes") and r.get(column) is not None]
        points = [(float(r["bytes"]) / 1024, float(r[column])) for r in usable]
        # variants on (nearly) the same spot, e.g. dynamic and float32: one dot, both names
        spots: dict[tuple[float, float], tuple[tuple[float, float], list[str]]] = {}
        for row, point in zip(usable, points, strict=True):
            key = (round(math.log10(point[0]), 2), round(point[1], 3))
            spots.setdefault(key, (point, []))[1].append(str(row["variant"]))
        panel = SizePanel(
            ax,
            [point for point, _ in spots.values()],
            [" = ".join(names) for _, names in spots.values()],
        )
        draw_size_panel(panel, title, f"Size vs {title.split(' (')[0]}")
        ax.set_ylim(-0.02, 1.02)
        panels.append(panel)
    finish_size_plot(fig, panels, output)
    plt.close(fig)


def plot_speed(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    """Median milliseconds per tile per variant, each bar labelled speed-up and runtime."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4.5))
    values = [row.get("ms_per_tile") or 0.0 for row in rows]
    bars = ax.bar(range(len(rows)), values, color="tab:blue")
    for bar, row in zip(bars, rows, strict=True):
        speedup = row.get("speedup")
        label = f"{speedup:.2f}x\n" if speedup else ""
        path = textwrap.fill(str(row.get("execution_path") or ""), 22)  # long: wrap
        ax.annotate(
            f"{label}{path}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=6,
        )
    threads = sorted({int(row["threads"]) for row in rows if row.get("threads")})
    stated = ", ".join(map(str, threads)) or "?"
    ax.set_xticks(range(len(rows)), [str(row["variant"]) for row in rows], rotation=45, ha="right")
    ax.set_ylabel("ms per tile (median)")
    ax.set_ylim(0, max(values, default=1.0) * 1.8 or 1.0)
    ax.set_title(f"Inference time per tile ({stated} thread(s); label: speed-up vs float32)")
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)


def read_curves(paths: Sequence[Path]) -> dict[str, dict[str, Curve]]:
    """`curves[variant]["position" | "barcode"]` from `merfish evaluate --curves` tables."""
    import csv

    import numpy as np

    points: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for path in paths:
        if not path.is_file():
            raise ModelshrinkError(f"{path}: curves file not found")
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            if reader.fieldnames != ["variant", "target", "curve", "x", "y"]:
                raise ModelshrinkError(f"{path}: expected columns variant target curve x y")
            for row in reader:
                key = (row["variant"], row["target"], row["curve"])
                points.setdefault(key, []).append((float(row["x"]), float(row["y"])))
    curves: dict[str, dict[str, Curve]] = {}
    for variant, target in sorted({(v, t) for v, t, _ in points}):
        pr = np.array(points.get((variant, target, "pr"), [(0.0, 0.0)]))
        roc = np.array(points.get((variant, target, "roc"), [(0.0, 0.0)]))
        curves.setdefault(variant, {})[target] = Curve(
            precision=pr[:, 1],
            recall=pr[:, 0],
            false_positive_rate=roc[:, 0],
            true_positive_rate=roc[:, 1],
            average_precision=float(np.sum(np.diff(np.r_[0.0, pr[:, 0]]) * pr[:, 1])),
            roc_auc=float(np.trapezoid(roc[:, 1], roc[:, 0])),
        )
    return curves


def plot_curves(curves: Mapping[str, Mapping[str, Curve]], path: Path) -> None:
    """`curves[variant]["position" | "barcode"]` -> a 2x2 grid: PR and ROC for each target."""
    figure, axes = _pyplot().subplots(2, 2, figsize=(9, 8))
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
    save_figure(figure, path)
