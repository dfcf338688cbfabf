"""The report's figures: read identity per variant, size vs accuracy, change against the
original, F1.

Why these: the original work showed read identity as violins; the question users ask
("what do I lose for each byte saved?") is a Pareto front; whether a loss is real or
noise needs its interval; and variant-calling F1 is the science most downstream users
care about. Real reads sit beside simulated ones wherever both were measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelshrink.atomic import atomic_output
from modelshrink.basecaller.compress.spec import ORIGINAL
from modelshrink.report.differences import identities_by_read
from modelshrink.report.labels import place_labels
from modelshrink.sensitivity import PROPOSED_VARIANT

#: the violins' y-axis starts at this quantile of the aligned reads' identities
ZOOM_QUANTILE = 0.02
#: fewer reads than this are drawn as dots (a violin of five reads is invented shape)
MIN_VIOLIN = 10
#: (summary column, prefix of its change columns, title) of the size-vs-accuracy panels
SIZE_METRICS = (
    ("read_identity_median", "read_identity", "median read identity"),
    ("real_read_identity_median", "real_read_identity", "median identity, real reads"),
    ("assembly_identity_polished", "assembly_identity", "polished assembly identity"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(row: Mapping[str, Any], several_samples: bool) -> str:
    return f"{row['variant']}\n{row['sample']}" if several_samples else str(row["variant"])


def _save(fig: Any, output: Path) -> None:
    with atomic_output(output, suffix=Path(output).suffix) as temporary:
        fig.savefig(temporary, format=Path(output).suffix.lstrip(".") or "svg")


def zoomed_limits(groups: Sequence[Sequence[float]]) -> tuple[float, float]:
    """y-limits that show where the aligned reads are: from a low quantile of every non-zero
    identity to the highest, plus a margin. Unaligned reads (0) would stretch the axis to 0
    and flatten every violin into a line; they are counted below each violin instead."""
    aligned = np.array([value for group in groups for value in group if value > 0])
    if aligned.size == 0:
        return 0.0, 1.01
    low, high = float(np.quantile(aligned, ZOOM_QUANTILE)), float(aligned.max())
    margin = max(0.005, 0.05 * (high - low))
    return max(0.0, low - margin), min(1.01, high + margin)


def draw_identity_panel(
    ax: Any, data: Sequence[Sequence[float]], labels: Sequence[str], title: str
) -> None:
    """Per group, a violin (a strip of dots under MIN_VIOLIN reads) of the identities in
    the zoomed range, the Wick median (all reads, zeros included) as a white dot, and how
    many reads lie below the shown range."""
    low, high = zoomed_limits(data)
    positions = list(range(1, len(data) + 1))
    shown = [[value for value in values if value >= low] for values in data]
    violins = [(p, v) for p, v in zip(positions, shown, strict=True) if len(v) >= MIN_VIOLIN]
    if violins:
        parts = ax.violinplot([v for _, v in violins], [p for p, _ in violins], showextrema=False)
        for body in parts["bodies"]:
            body.set_alpha(0.6)
    for position, values, all_values in zip(positions, shown, data, strict=True):
        if 0 < len(values) < MIN_VIOLIN:
            ax.scatter([position] * len(values), values, s=10, color="tab:blue", alpha=0.7)
        if all_values:
            median = float(np.median(all_values))
            ax.scatter([position], [max(median, low)], color="white", edgecolor="black", zorder=3)
        below = len(all_values) - len(values)
        if below:
            ax.annotate(
                f"{below} below",
                (position, low),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="0.3",
            )
    ax.set_xticks(positions, labels, rotation=45, ha="right")
    ax.set_ylabel("read identity")
    ax.set_ylim(low, high)
    ax.set_title(title)


def plot_read_identity(manifest: Sequence[Mapping[str, Any]], output: Path) -> None:
    """Simulated reads per variant x sample; beside them the real reads per variant."""
    plt = _pyplot()
    several = len({entry["sample"] for entry in manifest}) > 1
    panels = [
        (
            [list(identities_by_read(e["read_identity_table"]).values()) for e in manifest],
            [_label(entry, several) for entry in manifest],
            "Read identity per variant (Wick et al. 2019)",
        )
    ]
    real = {
        e["variant"]: e["real_read_identity_table"]
        for e in manifest
        if e.get("real_read_identity_table")
    }
    if real:
        panels.append(
            (
                [list(identities_by_read(path).values()) for path in real.values()],
                list(real),
                "Real R9.4.1 reads",
            )
        )
    widths = [max(4.0, 0.9 * len(labels) + 1.5) for _, labels, _ in panels]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(sum(widths), 4.5), squeeze=False, width_ratios=widths
    )
    for ax, (data, labels, title) in zip(axes[0], panels, strict=True):
        draw_identity_panel(ax, data, labels, title)
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


@dataclass
class SizePanel:
    """One size-vs-accuracy panel: labelled (KiB, accuracy) points, optional error bars
    ((below, above) each), drawn by `draw_size_panel`, labelled by `finish_size_plot`."""

    ax: Any
    points: list[tuple[float, float]]
    labels: list[str]
    errors: list[tuple[float, float]] | None = None
    proposed: list[bool] | None = None  # drawn as stars: made by the sensitivity proposer


def _readable_size_axis(ax: Any, sizes: Sequence[float]) -> None:
    """A log axis labelled in plain KiB at 1-2-5 steps. Variants within one decade of
    size would otherwise get matplotlib's crowded minor labels (1.04x10^3 ...), so the
    axis spans at least the sizes times 1.5 either way."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    if sizes:
        ax.set_xlim(min(sizes) / 1.5, max(sizes) * 1.5)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def draw_size_panel(panel: SizePanel, ylabel: str, title: str) -> None:
    """Dots of (KiB, accuracy) on a log size axis, their error bars, and the Pareto front
    as a red step line (both model families). Labels come later (`finish_size_plot`)."""
    ax, points = panel.ax, panel.points
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.scatter(xs, ys, color="tab:blue", zorder=3)
        marked = [p for p, flag in zip(points, panel.proposed or [], strict=False) if flag]
        if marked:
            ax.scatter(
                [p[0] for p in marked],
                [p[1] for p in marked],
                marker="*",
                s=160,
                color="tab:orange",
                edgecolor="black",
                zorder=4,
                label="proposed (sensitivity scan)",
            )
        if panel.errors:
            below, above = zip(*panel.errors, strict=True)
            ax.errorbar(xs, ys, yerr=[below, above], fmt="none", ecolor="tab:blue", capsize=3)
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
    _readable_size_axis(ax, [p[0] for p in points])
    ax.set_xlabel("stored size (KiB, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def finish_size_plot(fig: Any, panels: Sequence[SizePanel], output: Path) -> None:
    """Final layout, then labels placed clear of each other (they are measured in the
    final layout), then the file."""
    fig.tight_layout()
    for panel in panels:
        place_labels(panel.ax, panel.points, panel.labels)
    _save(fig, output)


def _interval_bars(row: Mapping[str, Any], prefix: str) -> tuple[float, float]:
    """The change's 95 % interval as error bars around the variant's own value."""
    delta, low, high = (row.get(f"{prefix}_delta{end}") for end in ("", "_low", "_high"))
    if delta is None or low is None or high is None:
        return 0.0, 0.0
    return max(0.0, delta - low), max(0.0, high - delta)


def plot_size_vs_accuracy(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    """Size against median read identity (simulated, and real reads when measured) and
    polished assembly identity; error bars: the 95 % interval of the change against the
    original, drawn around the variant's value."""
    plt = _pyplot()
    several = len({row["sample"] for row in rows}) > 1
    metrics = [m for m in SIZE_METRICS if m[0] != "real_read_identity_median"]
    if any(row.get("real_read_identity_median") is not None for row in rows):
        metrics.insert(1, SIZE_METRICS[1])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.5), squeeze=False)
    panels = []
    for ax, (column, prefix, title) in zip(axes[0], metrics, strict=True):
        usable = [r for r in rows if r.get("bytes") and r.get(column) is not None]
        if column == "real_read_identity_median":  # the same reads for every sample
            usable = list({str(r["variant"]): r for r in usable}.values())
        panel = SizePanel(
            ax,
            [(float(r["bytes"]) / 1024, float(r[column])) for r in usable],
            [
                str(r["variant"])
                if column.startswith("real")
                else _label(r, several).replace("\n", " ")
                for r in usable
            ],
            [_interval_bars(r, prefix) for r in usable],
            [str(r["variant"]) == PROPOSED_VARIANT for r in usable],
        )
        draw_size_panel(panel, title, f"Size vs {title}")
        panels.append(panel)
    finish_size_plot(fig, panels, output)
    plt.close(fig)


def plot_identity_change(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    """Each variant's change against the original with its 95 % bootstrap interval, in
    percentage points: simulated reads, real reads, polished assembly. An interval that
    crosses 0 is a change the data cannot tell from noise."""
    plt = _pyplot()
    several = len({row["sample"] for row in rows}) > 1
    compared = [row for row in rows if row["variant"] != ORIGINAL]
    metrics = [
        (prefix, title)
        for _, prefix, title in SIZE_METRICS
        if any(row.get(f"{prefix}_delta") is not None for row in compared)
    ]
    fig, axes = plt.subplots(
        1,
        max(1, len(metrics)),
        figsize=(4.5 * max(1, len(metrics)), 1.2 + 0.35 * max(1, len(compared))),
        squeeze=False,
    )
    for ax, (prefix, title) in zip(axes[0][: len(metrics)], metrics, strict=True):
        shown = [r for r in compared if r.get(f"{prefix}_delta") is not None]
        if prefix == "real_read_identity":  # the same reads for every sample
            shown = list({str(r["variant"]): r for r in shown}.values())
        labels = [
            str(r["variant"])
            if prefix.startswith("real")
            else _label(r, several).replace("\n", " ")
            for r in shown
        ]
        deltas = [100 * float(r[f"{prefix}_delta"]) for r in shown]
        bars = [tuple(100 * side for side in _interval_bars(r, prefix)) for r in shown]
        positions = list(range(len(shown)))[::-1]
        ax.errorbar(
            deltas,
            positions,
            xerr=[[b[0] for b in bars], [b[1] for b in bars]] if bars else None,
            fmt="o",
            color="tab:blue",
            capsize=3,
        )
        ax.axvline(0, color="0.4", linewidth=0.8)
        ax.set_yticks(positions, labels)
        ax.set_xlabel("change vs original (percentage points)")
        ax.set_title(title, fontsize=10)
    if not metrics:
        axes[0][0].text(
            0.5, 0.5, "no variant to compare", ha="center", transform=axes[0][0].transAxes
        )
    fig.suptitle("Change against the original, 95 % bootstrap intervals", fontsize=10)
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
