"""The merFISH U-Net's sensitivity scan: every conv block x every grid setting, alone.

A block is a U-Net level (`stage1_647.down1`, ... `stage2.up1`) or a head: its three
(two) convolutions share one role, and 17 blocks make a heatmap a user can read where
49 single convolutions would not. Each setting is applied to every conv weight of the
block (magnitude pruning per tensor, quantization per output channel), without
fine-tuning; the damage is the change of the issue's metrics (`merfish.metrics`:
position accuracy and Jaccard at p > 0.5, barcode accuracy and Jaccard at p > 0.9) on a
split's tiles, in percentage points lost.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from modelshrink.merfish.dataset import MerfishSplit
from modelshrink.merfish.inference import predict
from modelshrink.merfish.metrics import detection_metrics
from modelshrink.merfish.model import BARCODE_CHANNELS, POSITION_CHANNEL
from modelshrink.sensitivity.grid import ScanGrid, Setting, perturbed
from modelshrink.sensitivity.size import stored_bits

METRICS = ("position_accuracy", "position_jaccard", "barcode_accuracy", "barcode_jaccard")


def conv_blocks(model: nn.Module) -> dict[str, list[str]]:
    """Block name -> its conv weights' parameter names, in model order."""
    blocks: dict[str, list[str]] = {}
    for name, parameter in model.named_parameters():
        if parameter.ndim == 4:
            block = (
                ".".join(name.split(".")[:2]) if name.startswith("stage") else name.split(".")[0]
            )
            blocks.setdefault(block, []).append(name)
    return blocks


def split_metrics(model: nn.Module, split: MerfishSplit) -> dict[str, float]:
    probabilities = predict(model.eval(), split.images)
    return detection_metrics(
        probabilities[:, POSITION_CHANNEL],
        split.position.numpy(),
        probabilities[:, BARCODE_CHANNELS],
        split.barcode.numpy(),
    )


def _row(
    block: str,
    parameters: int,
    setting: Setting,
    metrics: Mapping[str, float],
    original: Mapping[str, float],
) -> dict[str, Any]:
    return {
        "block": block,
        "kind": setting.kind,
        "value": setting.value,
        "setting": setting.label if setting.kind != "none" else "original",
        "parameters": parameters,
        "estimated_bytes": stored_bits(parameters, setting) / 8,
        **{name: metrics[name] for name in METRICS},
        **{f"{name}_loss_points": 100 * (original[name] - metrics[name]) for name in METRICS},
    }


def scan_merfish(model: nn.Module, split: MerfishSplit, grid: ScanGrid) -> list[dict[str, Any]]:
    """One row per block and setting, plus the unchanged `original` per block."""
    model = copy.deepcopy(model).eval()
    original = split_metrics(model, split)
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    parameters = dict(model.named_parameters())
    rows = []
    for block, names in conv_blocks(model).items():
        count = sum(weights[name].numel() for name in names)
        rows.append(_row(block, count, Setting("none", 0.0), original, original))
        for setting in grid.settings:
            with torch.no_grad():
                for name in names:
                    parameters[name].copy_(perturbed(weights[name], setting, grid))
                metrics = split_metrics(model, split)
                for name in names:
                    parameters[name].copy_(weights[name])
            rows.append(_row(block, count, setting, metrics, original))
    return rows
