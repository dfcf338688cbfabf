"""Score one stored variant on a split: the issue's metrics, curves, timing and stored size."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from modelshrink.merfish.dataset import MerfishSplit
from modelshrink.merfish.inference import make_runner, predict, time_per_tile
from modelshrink.merfish.metrics import Curve, detection_metrics, threshold_curve
from modelshrink.merfish.model import BARCODE_CHANNELS, POSITION_CHANNEL
from modelshrink.merfish.storage import load_model


@dataclasses.dataclass(frozen=True)
class Evaluation:
    summary: dict[str, Any]  # flat numbers for the report table
    position_curve: Curve
    barcode_curve: Curve
    probabilities: np.ndarray  # (tiles, 17, H, W)


def evaluate_file(path: Path, split: MerfishSplit, runtime: str, repeats: int) -> Evaluation:
    stored = load_model(path)
    if stored.image_size != split.image_size:
        from modelshrink.errors import ModelshrinkError

        raise ModelshrinkError(
            f"{path}: model was made for {stored.image_size}x{stored.image_size} tiles, "
            f"the data has {split.image_size}x{split.image_size}"
        )
    run, described = make_runner(stored, runtime)
    probabilities = predict(run, split.images)
    timing = time_per_tile(run, split.images[0], repeats)
    position, barcode = split.position.numpy(), split.barcode.numpy()
    position_probability = probabilities[:, POSITION_CHANNEL]
    barcode_probability = probabilities[:, BARCODE_CHANNELS]
    position_curve = threshold_curve(position_probability, position)
    barcode_curve = threshold_curve(barcode_probability, barcode)
    summary = {
        "variant": stored.variant,
        "model": str(path),
        "stored_bytes": Path(path).stat().st_size,
        "tiles": len(split),
        **detection_metrics(position_probability, position, barcode_probability, barcode),
        "position_average_precision": position_curve.average_precision,
        "position_roc_auc": position_curve.roc_auc,
        "barcode_average_precision": barcode_curve.average_precision,
        "barcode_roc_auc": barcode_curve.roc_auc,
        "seconds_per_tile": timing["median_seconds"],
        "timing_repeats": timing["repeats"],
        "threads": timing["threads"],
        **described,
    }
    return Evaluation(summary, position_curve, barcode_curve, probabilities)
