"""What a variant costs to store and to run: parameters, bits, multiply-accumulates.

Why per raw sample: the basecaller's work scales with signal length, and the
convolution's stride (4 for Taiyaki R9.4.1) means every later layer runs once per
`stride` samples. Every weight is used in exactly one multiply-accumulate per output
step (a convolution output step sees winlen * insize * size weights, a GRU step
3 * (insize + size) * size, the linear layer insize * size), so dense MACs per step are
the weight counts and sparsity-aware MACs are the non-zero weight counts (what a
sparse kernel would do). Biases are additions, not MACs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from modelshrink.basecaller.compress.layout import network_layout
from modelshrink.errors import ModelshrinkError


@dataclass(frozen=True)
class ModelCost:
    """Counts for one variant; per-sample MACs = per-step MACs / stride."""

    parameters: int
    nonzero_parameters: int
    stride: int
    macs_per_step: int
    sparse_macs_per_step: int
    bits_per_parameter: float | None = None

    @property
    def macs_per_sample(self) -> float:
        return self.macs_per_step / self.stride

    @property
    def sparse_macs_per_sample(self) -> float:
        return self.sparse_macs_per_step / self.stride

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "macs_per_sample": self.macs_per_sample,
            "sparse_macs_per_sample": self.sparse_macs_per_sample,
        }


def dense_macs_per_step(architecture: Mapping[str, Any]) -> int:
    """MACs per output step from the architecture alone (no weights needed)."""
    total = 0
    for layer in network_layout(architecture):
        if layer.kind == "conv":
            total += layer.winlen * layer.insize * layer.size
        elif layer.kind == "gru":
            total += 3 * (layer.insize + layer.size) * layer.size
        else:
            total += layer.insize * layer.size
    return total


def model_cost(
    architecture: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    file_bytes: int | None = None,
) -> ModelCost:
    """Parameters, non-zeros and MACs of a model; bits/parameter when the file size is
    given (the whole file, header included, over all parameters)."""
    layout = network_layout(architecture)
    weights = [name for layer in layout for name in layer.weights]
    missing = [name for name in weights if name not in tensors]
    if missing:
        raise ModelshrinkError(
            f"the architecture needs weights {missing}; the tensors given have none of that name"
        )
    dense = dense_macs_per_step(architecture)
    counted = sum(tensors[name].numel() for name in weights)
    if counted != dense:
        raise ModelshrinkError(
            f"weight shapes ({counted} weights) do not match the architecture "
            f"({dense} multiply-accumulates per step)"
        )
    parameters = sum(tensor.numel() for tensor in tensors.values())
    return ModelCost(
        parameters=parameters,
        nonzero_parameters=sum(int(torch.count_nonzero(t)) for t in tensors.values()),
        stride=math.prod(layer.stride for layer in layout),
        macs_per_step=dense,
        sparse_macs_per_step=sum(int(torch.count_nonzero(tensors[name])) for name in weights),
        bits_per_parameter=None if file_bytes is None else 8 * file_bytes / max(parameters, 1),
    )
