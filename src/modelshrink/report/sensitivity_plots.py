"""Heatmaps of a sensitivity scan: tensors (or blocks) down, grid settings across.

One panel per damage measure, each cell annotated with its value, so a user sees at a
glance which layers take which sparsity or bit-width; a diverging colour scale centred
on zero shows gains (noise) in blue and losses in red, on a symmetric log scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelshrink.report.plots import _pyplot, _save


def scan_matrix(
    rows: Sequence[Mapping[str, Any]], row_key: str, column: str
) -> tuple[list[str], list[str], np.ndarray]:
    """(row names, setting labels, values) of one measure; the unchanged `original`
    rows are left out (zero by construction)."""
    names = list(dict.fromkeys(str(r[row_key]) for r in rows))
    settings = list(dict.fromkeys(str(r["setting"]) for r in rows if r["kind"] != "none"))
    values = np.full((len(names), len(settings)), np.nan)
    for row in rows:
        if row["kind"] != "none" and row[column] is not None:
            values[names.index(str(row[row_key])), settings.index(str(row["setting"]))] = row[
                column
            ]
    return names, settings, values


def plot_sensitivity(
    rows: Sequence[Mapping[str, Any]],
    row_key: str,
    panels: Sequence[tuple[str, str]],
    title: str,
    output: Path,
) -> None:
    """`panels`: (column, title) per heatmap, side by side."""
    plt = _pyplot()
    from matplotlib.colors import SymLogNorm

    names = list(dict.fromkeys(str(r[row_key]) for r in rows))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.0 + 3.2 * len(panels), 1.2 + 0.38 * len(names)),
        squeeze=False,
    )
    for ax, (column, panel_title) in zip(axes[0], panels, strict=True):
        names, settings, values = scan_matrix(rows, row_key, column)
        limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
        # symmetric log scale: damages span four decades, a linear one shows only the worst
        norm = SymLogNorm(linthresh=max(limit * 1e-3, 1e-12), vmin=-limit, vmax=limit)
        image = ax.imshow(values, cmap="RdBu_r", norm=norm, aspect="auto")
        ax.set_xticks(range(len(settings)), settings, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [""] * len(names))
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=7)
        ax.set_title(panel_title)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)
