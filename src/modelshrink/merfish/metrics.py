"""The issue's accuracy definitions, PR/ROC curves, all on probability maps and truth masks.

Position: predicted set = pixels with p > 0.5, truth = emitter pixels. Barcode: the sets are
(pixel, bit) pairs, predicted where the bit's p > 0.9, truth where the emitter's bit is 1.
Per tile, accuracy = |pred & truth| / |truth| and Jaccard = |pred & truth| / |pred | truth|;
reported values are plain means over tiles (a tile without truth scores accuracy 1 when
nothing is predicted there, else 0, and Jaccard likewise).
"""

from __future__ import annotations

import dataclasses

import numpy as np

POSITION_THRESHOLD = 0.5
BARCODE_THRESHOLD = 0.9


@dataclasses.dataclass(frozen=True)
class Curve:
    """Threshold sweep: precision/recall and false/true positive rates, plus their areas."""

    precision: np.ndarray
    recall: np.ndarray
    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    average_precision: float
    roc_auc: float


def _overlap_scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(accuracy, Jaccard) of two boolean masks of one tile."""
    both = int(np.logical_and(predicted, truth).sum())
    either = int(np.logical_or(predicted, truth).sum())
    total = int(truth.sum())
    accuracy = both / total if total else float(either == 0)
    jaccard = both / either if either else 1.0
    return accuracy, jaccard


def tile_scores(probability: np.ndarray, truth: np.ndarray, threshold: float) -> np.ndarray:
    """(tiles, 2) accuracy and Jaccard; first axis of both arrays is the tile."""
    return np.array(
        [_overlap_scores(p > threshold, t) for p, t in zip(probability, truth, strict=True)]
    )


def detection_metrics(
    position_probability: np.ndarray,
    position_truth: np.ndarray,
    barcode_probability: np.ndarray,
    barcode_truth: np.ndarray,
) -> dict[str, float]:
    """Means over tiles: inputs (tiles, H, W) and (tiles, 16, H, W)."""
    position = tile_scores(position_probability, position_truth, POSITION_THRESHOLD).mean(axis=0)
    barcode = tile_scores(barcode_probability, barcode_truth, BARCODE_THRESHOLD).mean(axis=0)
    return {
        "position_accuracy": float(position[0]),
        "position_jaccard": float(position[1]),
        "barcode_accuracy": float(barcode[0]),
        "barcode_jaccard": float(barcode[1]),
    }


def threshold_curve(score: np.ndarray, label: np.ndarray) -> Curve:
    """Exact PR and ROC curves: one point per distinct score, highest threshold first."""
    score = np.asarray(score, dtype=np.float64).ravel()
    label = np.asarray(label, dtype=bool).ravel()
    order = np.argsort(-score, kind="stable")
    score, label = score[order], label[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    true_positives = np.cumsum(label)[last_of_each]
    false_positives = (last_of_each + 1) - true_positives
    positives, negatives = max(int(label.sum()), 1), max(int((~label).sum()), 1)
    recall = true_positives / positives
    precision = true_positives / (true_positives + false_positives)
    fpr = np.r_[0.0, false_positives / negatives]
    tpr = np.r_[0.0, recall]
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return Curve(
        precision=precision,
        recall=recall,
        false_positive_rate=fpr,
        true_positive_rate=tpr,
        average_precision=average_precision,
        roc_auc=float(np.trapezoid(tpr, fpr)),
    )
