"""Magnitude pruning of the U-Net's conv weights via the shared toolbox, with in-place masks.

Each selected weight tensor loses its `sparsity` fraction of smallest-magnitude entries (per
layer, `modelshrink.toolbox.prune.prune_magnitude`). Only 4-D conv weights are candidates:
biases and batch-norm parameters are tiny and pruning them saves nothing. The masks are
re-applied after every fine-tuning step so the zeros stay zero.
"""

from __future__ import annotations

import fnmatch

import torch
from torch import nn

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.prune import prune_magnitude


def prune_conv_weights(
    model: nn.Module, sparsity: float, layers: str = "*"
) -> dict[str, torch.Tensor]:
    """Prune `model` in place; returns keep-masks of the conv weights matching glob `layers`."""
    weights = {
        name: parameter.detach()
        for name, parameter in model.named_parameters()
        if parameter.ndim == 4 and fnmatch.fnmatchcase(name, layers)
    }
    if not weights:
        raise ModelshrinkError(f"layers: pattern {layers!r} matches no conv weight of the model")
    result = prune_magnitude(weights, dict.fromkeys(weights, sparsity))
    apply_masks(model, result.masks)
    return result.masks


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the pruned weights in place (after every optimiser step while fine-tuning)."""
    parameters = dict(model.named_parameters())
    for name, keep in masks.items():
        parameters[name].mul_(keep)
