"""Score one stored variant on a split: the issue's metrics, curves, timing and stored size."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.dataset import MerfishSplit
from modelshrink.merfish.inference import make_execution, predict, time_per_tile
from modelshrink.merfish.metrics import Curve, detection_metrics, threshold_curve
from modelshrink.merfish.model import BARCODE_CHANNELS, POSITION_CHANNEL
from modelshrink.merfish.storage import load_merfish_model


@dataclasses.dataclass(frozen=True)
class Evaluation:
    summary: dict[str, Any]  # flat numbers for the report table
    position_curve: Curve
    barcode_curve: Curve
    probabilities: np.ndarray  # (tiles, 17, H, W)


def _fits(path: Path, image_size: int, split: MerfishSplit) -> None:
    if image_size != split.image_size:
        raise ModelshrinkError(
            f"{path}: model was made for {image_size}x{image_size} tiles, "
            f"the data has {split.image_size}x{split.image_size}"
        )


def evaluate_file(
    path: Path, split: MerfishSplit, runtime: str, repeats: int, reference: Path | None = None
) -> Evaluation:
    """Scores of `path` on `split`; with `reference` (the float32 model) the timing also runs
    it eagerly, interleaved, and `speedup` is float32 time / variant time from that."""
    stored = load_merfish_model(path)
    _fits(path, stored.image_size, split)
    execution = make_execution(stored, runtime)
    reference_run = None
    if reference is not None:
        reference_model = load_merfish_model(reference)
        _fits(reference, reference_model.image_size, split)
        if reference_model.variant != "float32":
            raise ModelshrinkError(
                f"--reference {reference}: is a {reference_model.variant} model; expected float32"
            )
        reference_run = make_execution(reference_model, "eager").run
    probabilities = predict(execution.run, split.images)
    timing = time_per_tile(execution.run, split.images, repeats, reference_run)
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
        "tiles_per_call": timing["tiles_per_call"],
        "threads": timing["threads"],
        **execution.described(),
    }
    if reference_run is not None:
        summary["reference_seconds_per_tile"] = timing["reference_median_seconds"]
        summary["speedup"] = timing["speedup"]
    return Evaluation(summary, position_curve, barcode_curve, probabilities)
