"""Pruning: which weights become zero (unstructured) or which units disappear (structured).

Unstructured pruning returns the pruned tensors and boolean keep-masks; fine-tuning
re-applies the masks after every step so zeros stay zero (the original tool's
"retraining with masks"). Counts are exact: a sparsity s zeroes ceil(s * n) elements
of an n-element tensor, as the original `prune.py` intended (it kept elements at or
above the ceil(s * n)-th smallest magnitude); ties at the threshold are broken by
position, so the count never depends on how many weights share a magnitude.

Structured pruning removes whole GRU hidden units / convolution channels and shrinks
the tensors (and the architecture) for real, so the dense model itself gets cheaper.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from modelshrink.compress.layout import LayerLayout, network_layout
from modelshrink.compress.names import assign_layers, assign_values, match_names
from modelshrink.compress.sparsity import (  # noqa: F401  (re-exported)
    check_sparsity,
    pruned_count,
    read_prune_data_txt,
)
from modelshrink.errors import ModelshrinkError


@dataclass
class PruneResult:
    """Pruned tensors (all tensors, untouched ones included) and keep-masks of the pruned."""

    tensors: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]


@dataclass
class StructuredPruneResult:
    """Shrunk tensors, the architecture with the new sizes, and the surviving unit indices
    of every pruned layer (keyed by layer index), e.g. to map fine-tuning back."""

    tensors: dict[str, torch.Tensor]
    architecture: dict[str, Any]
    kept: dict[int, list[int]]


def _smallest(magnitudes: torch.Tensor, count: int) -> torch.Tensor:
    """Flat indices of the `count` smallest values; stable, so ties go by position."""
    order = torch.sort(magnitudes.reshape(-1), stable=True).indices
    return order[:count]


def magnitude_mask(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask (True = keep) zeroing exactly ceil(s * n) smallest-magnitude elements.

    Elements already zero sort first, so a tensor with fewer zeros than asked ends with
    exactly the asked count.
    """
    mask = torch.ones(tensor.numel(), dtype=torch.bool)
    mask[_smallest(tensor.detach().abs(), pruned_count(tensor.numel(), sparsity))] = False
    return mask.reshape(tensor.shape)


def apply_masks(
    tensors: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Tensors with masked-out elements set to zero (the others returned as they are)."""
    return {
        name: tensor * masks[name].to(tensor.dtype) if name in masks else tensor
        for name, tensor in tensors.items()
    }


def prune_magnitude(
    tensors: Mapping[str, torch.Tensor], sparsity: Mapping[str, float]
) -> PruneResult:
    """Per-tensor magnitude pruning; `sparsity` maps names or globs to a fraction."""
    targets = assign_values(sparsity, tensors)
    masks = {
        name: magnitude_mask(tensors[name], check_sparsity(value, name))
        for name, value in targets.items()
    }
    return PruneResult(apply_masks(tensors, masks), masks)


def prune_global(tensors: Mapping[str, torch.Tensor], sparsity: Mapping[str, float]) -> PruneResult:
    """Global magnitude pruning: each key (name or glob) is one group whose tensors share
    a single magnitude threshold, so ceil(s * group size) weights go in total and the
    layers that matter less lose more."""
    masks: dict[str, torch.Tensor] = {}
    for pattern, value in sparsity.items():
        fraction = check_sparsity(value, pattern)
        group = match_names(pattern, tensors)
        overlap = sorted(set(group) & set(masks))
        if overlap:
            raise ModelshrinkError(
                f"global pruning group {pattern!r} overlaps an earlier group on {overlap}"
            )
        flat = torch.cat([tensors[name].detach().abs().reshape(-1) for name in group])
        keep = torch.ones(flat.numel(), dtype=torch.bool)
        keep[_smallest(flat, pruned_count(flat.numel(), fraction))] = False
        for name, part in zip(group, keep.split([tensors[n].numel() for n in group]), strict=True):
            masks[name] = part.reshape(tensors[name].shape)
    return PruneResult(apply_masks(tensors, masks), masks)


# --- structured ------------------------------------------------------------------------


def _gate_rows(units: torch.Tensor, hidden: int) -> torch.Tensor:
    """Rows of a GRU gate-stacked tensor ([r; z; n] blocks of `hidden`) for given units."""
    return torch.cat([units + gate * hidden for gate in range(3)])


def _unit_importance(
    layer: LayerLayout, following: LayerLayout, tensors: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """L2 norm of everything a unit/channel touches: its incoming weights (all gates) and
    its column in the next layer's input weights."""
    size = layer.size
    outgoing = tensors[following.weights[0]].detach()
    squares = outgoing.pow(2).sum(0)
    if layer.kind == "gru":
        for name in layer.weights:
            squares = squares + tensors[name].detach().pow(2).reshape(3, size, -1).sum((0, 2))
    else:
        squares = squares + tensors[layer.weights[0]].detach().pow(2).reshape(size, -1).sum(1)
    return squares.sqrt()


def _shrink_layer(
    tensors: dict[str, torch.Tensor],
    layer: LayerLayout,
    following: LayerLayout,
    keep: torch.Tensor,
) -> None:
    """Drop the units not in `keep` from `layer` and from `following`'s input."""
    if layer.kind == "gru":
        rows = _gate_rows(keep, layer.size)
        for name in (*layer.weights, *layer.biases):
            tensors[name] = tensors[name][rows]
        hh = layer.weights[1]
        tensors[hh] = tensors[hh][:, keep]
    else:
        for name in (*layer.weights, *layer.biases):
            if name in tensors:
                tensors[name] = tensors[name][keep]
    incoming = following.weights[0]
    tensors[incoming] = tensors[incoming][:, keep]


def _resize(config: dict[str, Any], key: str, value: int) -> None:
    target = config["layer"] if config.get("type") == "reverse" else config
    target[key] = value


def prune_structured(
    tensors: Mapping[str, torch.Tensor],
    architecture: Mapping[str, Any],
    sparsity: Mapping[str, float],
) -> StructuredPruneResult:
    """Remove a fraction of whole GRU hidden units / convolution output channels.

    Keys name layers (`sublayers.1`), globs of layers (`sublayers.[1-5]`), or any
    parameter of the layer (`sublayers.1.layer.cudnn_gru.weight_hh_l0`). For layer i,
    ceil(s * size) units with the smallest L2 importance go: their gate rows in
    weight_ih/weight_hh/biases, their column in weight_hh, and their input column in
    layer i + 1. The output layer cannot lose units (its 40 scores are the decoder's
    state space).
    """
    layout = network_layout(architecture)
    layer_names = [f"sublayers.{layer.index}" for layer in layout]
    targets = assign_layers(sparsity, layer_names)
    shrunk = {name: tensor.detach().clone() for name, tensor in tensors.items()}
    new_architecture = copy.deepcopy(dict(architecture))
    kept: dict[int, list[int]] = {}
    for layer_name, value in targets.items():
        fraction = check_sparsity(value, layer_name)
        index = layer_names.index(layer_name)
        layer = layout[index]
        if layer.kind == "linear" or index + 1 >= len(layout):
            raise ModelshrinkError(
                f"{layer_name} is the output layer; structured pruning applies to the "
                f"convolution and GRU layers ({', '.join(layer_names[:-1])})"
            )
        following = layout[index + 1]
        removed = min(pruned_count(layer.size, fraction), layer.size - 1)
        importance = _unit_importance(layer, following, shrunk)
        keep = torch.sort(_smallest(importance, layer.size)[removed:]).values
        _shrink_layer(shrunk, layer, following, keep)
        configs = new_architecture["layers"]
        _resize(configs[index], "size", len(keep))
        _resize(configs[index + 1], "insize", len(keep))
        kept[index] = keep.tolist()
    return StructuredPruneResult(shrunk, new_architecture, kept)
