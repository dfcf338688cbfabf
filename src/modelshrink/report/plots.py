"""The report's three figures: read identity per variant, size vs accuracy, F1.

Why these: the original work showed read identity as violins; the question users ask
("what do I lose for each byte saved?") is a Pareto front; and variant-calling F1 is
the science most downstream users care about.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(row: Mapping[str, Any], several_samples: bool) -> str:
    return f"{row['variant']}\n{row['sample']}" if several_samples else str(row["variant"])


def read_identities(path: Path) -> list[float]:
    """Per-read identities; an unaligned read (NA) counts as 0, as in the median."""
    try:
        with Path(path).open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error
    values = []
    for row in rows:
        try:
            value = float(row["identity"])
        except (KeyError, TypeError, ValueError):
            value = 0.0
        values.append(0.0 if math.isnan(value) else value)
    return values


def _save(fig: Any, output: Path) -> None:
    with atomic_output(output, suffix=Path(output).suffix) as temporary:
        fig.savefig(temporary, format=Path(output).suffix.lstrip(".") or "svg")


def plot_read_identity(manifest: Sequence[Mapping[str, Any]], output: Path) -> None:
    plt = _pyplot()
    several = len({entry["sample"] for entry in manifest}) > 1
    labels = [_label(entry, several) for entry in manifest]
    data = [read_identities(entry["read_identity_table"]) for entry in manifest]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(data) + 2), 4.5))
    positions = list(range(1, len(data) + 1))
    shown = [(p, d) for p, d in zip(positions, data, strict=True) if len(d) > 1]
    if shown:
        parts = ax.violinplot([d for _, d in shown], [p for p, _ in shown], showextrema=False)
        for body in parts["bodies"]:
            body.set_alpha(0.6)
    for position, values in zip(positions, data, strict=True):
        if values:
            ordered = sorted(values)
            median = ordered[len(ordered) // 2]
            if len(ordered) % 2 == 0:
                median = (ordered[len(ordered) // 2 - 1] + median) / 2
            ax.scatter([position], [median], color="white", edgecolor="black", zorder=3)
    ax.set_xticks(positions, labels, rotation=45, ha="right")
    ax.set_ylabel("read identity")
    ax.set_ylim(0, 1.01)
    ax.set_title("Read identity per variant (Wick et al. 2019)")
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not beaten on both axes (smaller x, larger y), by increasing x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for index in order:
        if points[index][1] > best:
            front.append(index)
            best = points[index][1]
    return front


def draw_size_panel(
    ax: Any, points: Sequence[tuple[float, float]], labels: Sequence[str], ylabel: str, title: str
) -> None:
    """One size-vs-accuracy panel (both model families): labelled dots of (KiB, accuracy)
    on a log size axis and their Pareto front as a red step line."""
    if points:
        ax.scatter([p[0] for p in points], [p[1] for p in points], color="tab:blue")
        for label, point in zip(labels, points, strict=True):
            ax.annotate(label, point, fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(points)
        ax.step(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            where="post",
            color="tab:red",
            label="Pareto front",
        )
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_xlabel("stored size (KiB, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def plot_size_vs_accuracy(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    plt = _pyplot()
    several = len({row["sample"] for row in rows}) > 1
    metrics = (
        ("read_identity_median", "median read identity"),
        ("assembly_identity_polished", "polished assembly identity"),
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (column, title) in zip(axes, metrics, strict=True):
        usable = [r for r in rows if r.get("bytes") and r.get(column) is not None]
        points = [(float(r["bytes"]) / 1024, float(r[column])) for r in usable]
        labels = [_label(row, several).replace("\n", " ") for row in usable]
        draw_size_panel(ax, points, labels, title, f"Size vs {title}")
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)


def plot_f1(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    plt = _pyplot()
    several = len({row["sample"] for row in rows}) > 1
    labels = [_label(row, several) for row in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4.5))
    width = 0.4
    for offset, (column, name) in zip(
        (-width / 2, width / 2), (("snp_f1", "SNP"), ("indel_f1", "INDEL")), strict=True
    ):
        values = [row.get(column) or 0.0 for row in rows]
        ax.bar([i + offset for i in range(len(rows))], values, width, label=name)
    ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("Variant-calling F1 per variant (NA shown as 0)")
    ax.legend()
    fig.tight_layout()
    _save(fig, output)
    plt.close(fig)
