"""Unstructured pruning: which weights become zero.

Unstructured pruning returns the pruned tensors and boolean keep-masks; fine-tuning
re-applies the masks after every step so zeros stay zero (the original tool's
"retraining with masks"). Counts are exact: a sparsity s zeroes ceil(s * n) elements
of an n-element tensor, as the original `prune.py` intended (it kept elements at or
above the ceil(s * n)-th smallest magnitude); ties at the threshold are broken by
position, so the count never depends on how many weights share a magnitude.

Structured pruning (whole units and channels) needs the network's layer layout and
lives with its family (`basecaller.compress.structured_prune`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import assign_values, match_names
from modelshrink.toolbox.sparsity import (  # noqa: F401  (re-exported)
    check_sparsity,
    pruned_count,
    read_prune_data_txt,
)


@dataclass
class PruneResult:
    """Pruned tensors (all tensors, untouched ones included) and keep-masks of the pruned."""

    tensors: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]


def smallest_indices(magnitudes: torch.Tensor, count: int) -> torch.Tensor:
    """Flat indices of the `count` smallest values; stable, so ties go by position."""
    order = torch.sort(magnitudes.reshape(-1), stable=True).indices
    return order[:count]


def magnitude_mask(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask (True = keep) zeroing exactly ceil(s * n) smallest-magnitude elements.

    Elements already zero sort first, so a tensor with fewer zeros than asked ends with
    exactly the asked count.
    """
    mask = torch.ones(tensor.numel(), dtype=torch.bool)
    mask[smallest_indices(tensor.detach().abs(), pruned_count(tensor.numel(), sparsity))] = False
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
        keep[smallest_indices(flat, pruned_count(flat.numel(), fraction))] = False
        for name, part in zip(group, keep.split([tensors[n].numel() for n in group]), strict=True):
            masks[name] = part.reshape(tensors[name].shape)
    return PruneResult(apply_masks(tensors, masks), masks)
