"""The issue's merFISH metric definitions on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from modelshrink.merfish.metrics import detection_metrics, threshold_curve, tile_scores


def test_accuracy_and_jaccard_follow_the_set_definitions() -> None:
    truth = np.zeros((1, 4, 4), dtype=bool)
    truth[0, [0, 1, 2], [0, 1, 2]] = True  # three emitters
    probability = np.zeros((1, 4, 4))
    probability[0, 0, 0] = 0.9  # hit
    probability[0, 1, 1] = 0.5  # not above 0.5: miss
    probability[0, 3, 3] = 0.7  # false positive
    accuracy, jaccard = tile_scores(probability, truth, 0.5)[0]
    assert accuracy == pytest.approx(1 / 3)  # |pred & truth| / |truth|
    assert jaccard == pytest.approx(1 / 4)  # 1 / |{(0,0), (1,1), (2,2), (3,3)}|


def test_barcode_sets_are_pixel_bit_pairs_at_0_9_and_tiles_are_averaged() -> None:
    position_truth = np.zeros((2, 2, 2), dtype=bool)
    position_truth[:, 0, 0] = True
    barcode_truth = np.zeros((2, 16, 2, 2), dtype=bool)
    barcode_truth[:, :4, 0, 0] = True
    barcode_probability = barcode_truth * 0.95
    barcode_probability[1, 3, 0, 0] = 0.85  # tile 2 misses one of its four bits at > 0.9
    metrics = detection_metrics(
        position_truth * 1.0, position_truth, barcode_probability, barcode_truth
    )
    assert metrics["position_accuracy"] == 1.0 and metrics["position_jaccard"] == 1.0
    assert metrics["barcode_accuracy"] == pytest.approx((1 + 3 / 4) / 2)
    assert metrics["barcode_jaccard"] == pytest.approx((1 + 3 / 4) / 2)


def test_curves_of_perfect_and_inverted_scores() -> None:
    label = np.array([1, 1, 0, 0, 0], dtype=bool)
    perfect = threshold_curve(np.array([0.9, 0.8, 0.3, 0.2, 0.1]), label)
    assert perfect.roc_auc == pytest.approx(1.0) and perfect.average_precision == pytest.approx(1)
    inverted = threshold_curve(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), label)
    assert inverted.roc_auc == pytest.approx(0.0)
    assert inverted.recall[-1] == 1.0 and inverted.precision[-1] == pytest.approx(2 / 5)
