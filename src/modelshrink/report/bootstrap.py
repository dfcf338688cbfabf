"""A variant's change against the original, with a 95 % bootstrap confidence interval.

Why: a median read identity 0.3 points below the original's is damage only if resampling
the same reads rarely gives a difference that large. The statistic is always a
difference of plain medians (Wick et al.'s summary, zeros included); the interval is the
percentile interval of that difference over resamples.

Resampling units:
- reads, paired by read id: both models basecalled the same reads, so a resample draws
  read ids and takes both models' identities of those reads. A read one side lacks
  counts as identity 0 there, as an unaligned read does in the median.
- assembly pieces, paired by reference window: each 10 kb piece falls into the
  reference window holding the midpoint of its best alignment; a resample draws windows
  and takes both assemblies' pieces in them (a block bootstrap: pieces of different
  assemblies are cut at different places, so they cannot be paired one to one). When a
  piece has no reference position (it did not align), pieces are resampled unpaired,
  each assembly on its own.

Resamples are drawn from a fixed seed, so the same inputs always give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_SEED = 1
CONFIDENCE = 0.95
#: elements of one block of resampled counts x values held at once
_BLOCK_ELEMENTS = 1 << 21

PAIRED_READS = "paired_reads"
PAIRED_WINDOWS = "paired_windows"
UNPAIRED = "unpaired"


@dataclass(frozen=True)
class Difference:
    """variant - baseline of a median; low/high bound its 95 % interval (None: fewer than
    two resampling units, where a bootstrap says nothing)."""

    delta: float
    low: float | None
    high: float | None
    units: int
    pairing: str


@dataclass(frozen=True)
class _Side:
    """One model's values, sorted, each with the resampling unit it belongs to."""

    values: np.ndarray
    units: np.ndarray

    @classmethod
    def of(cls, values: Sequence[float], units: Sequence[int]) -> _Side:
        order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
        return cls(
            np.asarray(values, dtype=np.float64)[order], np.asarray(units, dtype=np.int64)[order]
        )

    def medians(self, counts: np.ndarray) -> np.ndarray:
        """Median of every resample; `counts[r, u]` is how often resample r drew unit u.
        NaN where a resample drew none of this side's values."""
        weights = np.cumsum(counts[:, self.units], axis=1)
        total = weights[:, -1]

        def value_at(position: np.ndarray) -> np.ndarray:
            index = (weights <= position[:, None]).sum(axis=1)
            return self.values[np.minimum(index, len(self.values) - 1)]

        upper = value_at(total // 2)
        lower = np.where(total % 2 == 1, upper, value_at(np.maximum(total // 2 - 1, 0)))
        return np.where(total > 0, (upper + lower) / 2, np.nan)


def _resampled_counts(
    rng: np.random.Generator, units: int, resamples: int, values: int
) -> list[np.ndarray]:
    """Bootstrap draw counts (each resample draws `units` units with replacement), in
    blocks small enough that counts x values stays bounded."""
    per_block = max(1, min(resamples, _BLOCK_ELEMENTS // max(1, values)))
    blocks = []
    for start in range(0, resamples, per_block):
        size = min(per_block, resamples - start)
        blocks.append(rng.multinomial(units, np.full(units, 1 / units), size=size))
    return blocks


def _interval(differences: np.ndarray) -> tuple[float | None, float | None]:
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return None, None
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def _paired(
    baseline: _Side,
    variant: _Side,
    units: int,
    delta: float,
    pairing: str,
    resamples: int,
    seed: int,
) -> Difference:
    if units < 2:
        return Difference(delta, None, None, units, pairing)
    rng = np.random.default_rng(seed)
    values = max(len(baseline.values), len(variant.values))
    differences = [
        variant.medians(counts) - baseline.medians(counts)
        for counts in _resampled_counts(rng, units, resamples, values)
    ]
    return Difference(delta, *_interval(np.concatenate(differences)), units, pairing)


def _drawn_indices(rng: np.random.Generator, count: int, resamples: int) -> list[np.ndarray]:
    """Bootstrap draws of `count` indices with replacement, in bounded blocks."""
    per_block = max(1, min(resamples, _BLOCK_ELEMENTS // max(1, count)))
    return [
        rng.integers(0, count, size=(min(per_block, resamples - start), count))
        for start in range(0, resamples, per_block)
    ]


def paired_read_difference(
    baseline: Mapping[str, float],
    variant: Mapping[str, float],
    resamples: int,
    seed: int = DEFAULT_SEED,
) -> Difference:
    """Change of the median read identity, reads paired by id (missing reads count 0).

    One value per read and side, so a resample is a plain draw of read indices (faster
    than the weighted medians that windows of several pieces need)."""
    names = sorted(set(baseline) | set(variant))
    base = np.array([baseline.get(name, 0.0) for name in names], dtype=np.float64)
    other = np.array([variant.get(name, 0.0) for name in names], dtype=np.float64)
    delta = float(np.median(other) - np.median(base)) if names else math.nan
    if len(names) < 2:
        return Difference(delta, None, None, len(names), PAIRED_READS)
    rng = np.random.default_rng(seed)
    differences = [
        np.median(other[drawn], axis=1) - np.median(base[drawn], axis=1)
        for drawn in _drawn_indices(rng, len(names), resamples)
    ]
    return Difference(delta, *_interval(np.concatenate(differences)), len(names), PAIRED_READS)


def window_difference(
    baseline: Sequence[tuple[Hashable | None, float]],
    variant: Sequence[tuple[Hashable | None, float]],
    resamples: int,
    seed: int = DEFAULT_SEED,
) -> Difference | None:
    """Change of the median piece identity; pieces are (reference window or None, identity).

    Paired by window when every piece has one, else unpaired. None when a side has no
    piece at all (an empty assembly has no median to compare).
    """
    if not baseline or not variant:
        return None
    delta = _median([v for _, v in variant]) - _median([v for _, v in baseline])
    if all(window is not None for window, _ in (*baseline, *variant)):
        windows = {
            w: i for i, w in enumerate(sorted({w for w, _ in (*baseline, *variant)}, key=repr))
        }
        return _paired(
            _Side.of([v for _, v in baseline], [windows[w] for w, _ in baseline]),
            _Side.of([v for _, v in variant], [windows[w] for w, _ in variant]),
            len(windows),
            delta,
            PAIRED_WINDOWS,
            resamples,
            seed,
        )
    return unpaired_difference([v for _, v in baseline], [v for _, v in variant], resamples, seed)


def unpaired_difference(
    baseline: Sequence[float],
    variant: Sequence[float],
    resamples: int,
    seed: int = DEFAULT_SEED,
) -> Difference:
    """Change of the median, each side resampled on its own (independent samples)."""
    delta = _median(variant) - _median(baseline)
    units = min(len(baseline), len(variant))
    if units < 2:
        return Difference(delta, None, None, units, UNPAIRED)
    rng = np.random.default_rng(seed)
    medians = []
    for values in (baseline, variant):
        array = np.asarray(values, dtype=np.float64)
        blocks = _drawn_indices(rng, len(array), resamples)
        medians.append(np.concatenate([np.median(array[drawn], axis=1) for drawn in blocks]))
    return Difference(delta, *_interval(medians[1] - medians[0]), units, UNPAIRED)
