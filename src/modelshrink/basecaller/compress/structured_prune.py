"""Structured pruning: whole GRU hidden units / convolution channels disappear.

It shrinks the tensors (and the architecture) for real, so the dense model itself gets
cheaper; which rows and columns belong to a unit comes from the layer layout.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from modelshrink.basecaller.compress.layout import LayerLayout, network_layout
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import assign_layers
from modelshrink.toolbox.prune import smallest_indices
from modelshrink.toolbox.sparsity import check_sparsity, pruned_count


@dataclass
class StructuredPruneResult:
    """Shrunk tensors, the architecture with the new sizes, and the surviving unit indices
    of every pruned layer (keyed by layer index), e.g. to map fine-tuning back."""

    tensors: dict[str, torch.Tensor]
    architecture: dict[str, Any]
    kept: dict[int, list[int]]


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
        keep = torch.sort(smallest_indices(importance, layer.size)[removed:]).values
        _shrink_layer(shrunk, layer, following, keep)
        configs = new_architecture["layers"]
        _resize(configs[index], "size", len(keep))
        _resize(configs[index + 1], "insize", len(keep))
        kept[index] = keep.tolist()
    return StructuredPruneResult(shrunk, new_architecture, kept)
