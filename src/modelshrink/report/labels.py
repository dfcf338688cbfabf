"""Point labels that do not cover each other or the points (a small greedy repel).

Why: compressed variants often sit on one spot of a size-accuracy plot (fp16 and an 8-bit
file differ little in accuracy), and labels drawn at a fixed offset print over each other.
Each label tries offsets on growing rings around its point and takes the first whose
text box stays inside the axes and overlaps no placed label and no point; a label moved
further than the first ring gets a thin leader line to its point. Run it after the
figure's layout is final: boxes are measured in display units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: offsets tried, in points: rings of growing radius, 12 directions each (right first)
RING_RADII = (4.0, 10.0, 18.0, 28.0, 40.0, 55.0, 75.0, 100.0)
DIRECTIONS = 12
#: half size of the square a point's marker covers, in points
MARKER_HALF = 4.0
LEADER = {"arrowstyle": "-", "color": "0.5", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 2}


def candidate_offsets() -> list[tuple[float, float]]:
    offsets = []
    for radius in RING_RADII:
        for step in range(DIRECTIONS):
            angle = 2 * math.pi * step / DIRECTIONS + math.pi / 4  # up-right first
            offsets.append((radius * math.cos(angle), radius * math.sin(angle)))
    return offsets


def _alignment(dx: float, dy: float) -> tuple[str, str]:
    horizontal = "left" if dx > 1e-6 else "right" if dx < -1e-6 else "center"
    vertical = "bottom" if dy > 1e-6 else "top" if dy < -1e-6 else "center"
    return horizontal, vertical


def _annotate(
    ax: Any,
    label: str,
    point: tuple[float, float],
    offset: tuple[float, float],
    fontsize: float,
    leader: bool,
) -> Any:
    """`label` at `offset` points from `point`, aligned away from it."""
    horizontal, vertical = _alignment(*offset)
    return ax.annotate(
        label,
        point,
        xytext=offset,
        textcoords="offset points",
        fontsize=fontsize,
        ha=horizontal,
        va=vertical,
        arrowprops=LEADER if leader else None,
    )


def text_box(annotation: Any, renderer: Any) -> Any:
    """The label's text box in display units (without its leader line)."""
    from matplotlib.text import Text

    annotation.update_positions(renderer)  # where the offset puts it, as drawing would
    return Text.get_window_extent(annotation, renderer)


def _overlap(box: Any, others: Sequence[Any]) -> float:
    total = 0.0
    for other in others:
        width = min(box.x1, other.x1) - max(box.x0, other.x0)
        height = min(box.y1, other.y1) - max(box.y0, other.y0)
        if width > 0 and height > 0:
            total += width * height
    return total


def place_labels(
    ax: Any, points: Sequence[tuple[float, float]], labels: Sequence[str], fontsize: float = 7
) -> list[Any]:
    """Annotations of `labels` at `points` (data coordinates), none overlapping another
    label or a point where the axes leave room; returns them in input order."""
    from matplotlib.transforms import Bbox

    figure = ax.figure
    renderer = figure.canvas.get_renderer()
    pixels_per_point = figure.dpi / 72
    area = ax.get_window_extent(renderer)
    half = MARKER_HALF * pixels_per_point
    markers = []
    for x, y in ax.transData.transform(points) if len(points) else []:
        markers.append(Bbox.from_extents(x - half, y - half, x + half, y + half))
    placed: list[Any] = []
    annotations = []
    for point, label in zip(points, labels, strict=True):
        best: tuple[float, tuple[float, float]] | None = None
        for dx, dy in candidate_offsets():
            trial = _annotate(ax, label, point, (dx, dy), fontsize, leader=False)
            box = text_box(trial, renderer)
            trial.remove()
            inside = (
                area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1
            )
            cost = _overlap(box, [*placed, *markers]) + (0.0 if inside else box.width * box.height)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy))
            if cost == 0:
                break
        assert best is not None
        far = math.hypot(*best[1]) > RING_RADII[0] + 1e-6
        annotation = _annotate(ax, label, point, best[1], fontsize, leader=far)
        placed.append(text_box(annotation, renderer))
        annotations.append(annotation)
    return annotations
