"""Bootstrap intervals of a median's change on small inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from modelshrink.report.bootstrap import (
    PAIRED_READS,
    PAIRED_WINDOWS,
    UNPAIRED,
    paired_read_difference,
    unpaired_difference,
    window_difference,
)

RESAMPLES = 1000


def reads(values: np.ndarray) -> dict[str, float]:
    return {f"read{i}": float(value) for i, value in enumerate(values)}


def test_identical_reads_give_a_zero_width_interval_at_zero() -> None:
    identities = reads(np.random.default_rng(3).uniform(0.8, 0.95, 50))
    difference = paired_read_difference(identities, dict(identities), RESAMPLES)
    assert (difference.delta, difference.low, difference.high) == (0.0, 0.0, 0.0)
    assert (difference.units, difference.pairing) == (50, PAIRED_READS)


def test_interval_contains_the_true_difference_of_medians() -> None:
    """Variant = original - 0.01 + noise per read: the population medians differ by
    exactly -0.01 (noise symmetric around 0)."""
    rng = np.random.default_rng(5)
    original = rng.normal(0.90, 0.03, 400)
    variant = original - 0.01 + rng.normal(0.0, 0.01, 400)
    difference = paired_read_difference(reads(original), reads(variant), RESAMPLES)
    assert difference.low < -0.01 < difference.high
    assert difference.high - difference.low < 0.01  # pairing removes the between-read spread
    assert difference.delta == pytest.approx(np.median(variant) - np.median(original))


def test_same_inputs_same_interval() -> None:
    rng = np.random.default_rng(8)
    a, b = reads(rng.uniform(0.8, 1.0, 30)), reads(rng.uniform(0.8, 1.0, 30))
    assert paired_read_difference(a, b, RESAMPLES) == paired_read_difference(a, b, RESAMPLES)


def test_a_read_missing_from_one_side_counts_as_zero() -> None:
    original = {"a": 0.9, "b": 0.92, "c": 0.94}
    variant = {"a": 0.9, "b": 0.92}  # c not basecalled: identity 0, median of (0.9, 0.92, 0)
    difference = paired_read_difference(original, variant, RESAMPLES)
    assert difference.delta == pytest.approx(0.9 - 0.92)
    assert difference.units == 3


def test_one_read_has_no_interval() -> None:
    difference = paired_read_difference({"a": 0.9}, {"a": 0.8}, RESAMPLES)
    assert difference.delta == pytest.approx(-0.1)
    assert difference.low is None and difference.high is None


def test_pieces_pair_by_reference_window() -> None:
    """Every window loses 0.01 in the variant: the paired interval is exactly -0.01, while
    windows differ among themselves far more than that."""
    original = [(("chr", w), identity) for w, identity in enumerate((0.95, 0.98, 0.99, 0.999))]
    variant = [(window, identity - 0.01) for window, identity in original]
    difference = window_difference(original, variant, RESAMPLES)
    assert difference is not None and difference.pairing == PAIRED_WINDOWS
    assert difference.low == pytest.approx(-0.01) and difference.high == pytest.approx(-0.01)


def test_unaligned_piece_falls_back_to_unpaired() -> None:
    original = [(("chr", 0), 0.99), (("chr", 1), 0.98), (("chr", 2), 0.97)]
    variant = [(("chr", 0), 0.99), (None, 0.0), (("chr", 2), 0.97)]
    difference = window_difference(original, variant, RESAMPLES)
    assert difference is not None and difference.pairing == UNPAIRED
    assert difference.delta == pytest.approx(0.97 - 0.98)
    assert difference.low <= difference.delta <= difference.high
    assert unpaired_difference([0.9, 0.9], [0.9, 0.9], RESAMPLES).high == 0.0


def test_an_empty_assembly_has_no_difference() -> None:
    assert window_difference([(("chr", 0), 0.99)], [], RESAMPLES) is None
