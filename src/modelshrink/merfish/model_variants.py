"""Turn the trained float network into one stored variant, following a `VariantSpec`.

This is the one place that knows which method needs training data (QAT, pruning fine-tune,
static calibration) and which storage call fits the result; it returns the summary the report
shows (stored bytes, parameters, non-zeros, MACs).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from modelshrink.merfish import quantize, storage
from modelshrink.merfish.dataset import MerfishSplit
from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.prune import apply_masks, prune_conv_weights
from modelshrink.merfish.spec import TrainSpec, VariantSpec
from modelshrink.merfish.stats import conv_macs, parameter_counts
from modelshrink.merfish.train import train_model

STORED_NAME = {
    "float32": "float32",
    "fp16": "fp16",
    "dynamic": "dynamic_int8",
    "static": "static_int8",
    "qat": "qat_int8",
    "prune": "pruned",
}


def _finetune_spec(train: TrainSpec, variant: VariantSpec) -> TrainSpec:
    """Fine-tuning starts from a converged network: a constant rate, no warm-up cycle."""
    return dataclasses.replace(
        train, epochs=variant.epochs, learning_rate=variant.learning_rate, schedule="constant"
    )


def make_variant(
    model: AnglerFISH,
    variant: VariantSpec,
    train: TrainSpec,
    train_split: MerfishSplit,
    val_split: MerfishSplit,
    out: Path,
) -> dict[str, Any]:
    """Compress a copy of `model` into `out`; returns the variant's summary."""
    variant.validate()  # also for specs built in code rather than parsed from config
    model = copy.deepcopy(model).eval()
    image_size = train_split.image_size
    stored_name = STORED_NAME[variant.method]
    info: dict[str, Any] = {"method": variant.method, "spec": dataclasses.asdict(variant)}
    counted = model
    if variant.method in ("float32", "fp16"):
        stored_bytes = storage.save_float(out, model, stored_name, image_size, info)
    elif variant.method == "dynamic":
        result = quantize.quantize_dynamic_int8(model)
        info["converted_modules"] = result.converted
        info["note"] = (
            "torch.ao dynamic quantization covers Linear/GRU/LSTM only; "
            f"{len(result.converted)} modules of this conv U-Net converted"
        )
        stored_bytes = storage.save_float(out, model, stored_name, image_size, info)
    elif variant.method == "prune":
        masks = prune_conv_weights(model, variant.sparsity, variant.layers)
        if variant.epochs:
            history = train_model(
                model,
                train_split,
                val_split,
                _finetune_spec(train, variant),
                after_step=lambda module: apply_masks(module, masks),
                freeze_batch_norm=variant.freeze_batch_norm,
            )
            info["finetune_best_epoch"] = history.best_epoch
        info["pruned_tensors"] = len(masks)
        stored_bytes = storage.save_float(out, model, stored_name, image_size, info)
    elif variant.method == "static":
        calibration = train_split.images[: variant.calibration_tiles]
        info["calibration_tiles"] = len(calibration)
        converted = quantize.quantize_static(model, calibration)
        stored_bytes = storage.save_int8(out, converted, stored_name, model.spec, image_size, info)
    else:  # qat
        prepared = quantize.prepare_qat(model, image_size)
        history = train_model(
            prepared,
            train_split,
            val_split,
            _finetune_spec(train, variant),
            keep_initial=False,
            freeze_batch_norm=variant.freeze_batch_norm,
        )
        info["qat_best_epoch"] = history.best_epoch
        converted = quantize.convert_qat(prepared)
        stored_bytes = storage.save_int8(out, converted, stored_name, model.spec, image_size, info)
    return {
        "variant": stored_name,
        "stored_bytes": stored_bytes,
        **parameter_counts(counted),
        **conv_macs(counted, image_size),
        "info": info,
    }
