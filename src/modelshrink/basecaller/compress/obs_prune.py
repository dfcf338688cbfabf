"""Layer-wise Optimal Brain Surgeon pruning of the GRUs (SparseGPT's idea, solved exactly).

Magnitude pruning keeps the largest weights and leaves the rest of each row as it was;
at 50 % of the GRU weights that leaves a network which calls nothing until it is
retrained. OBS instead asks, one GRU at a time, that the gate pre-activations
W x_t (input matrix) and W h_(t-1) (recurrent matrix) stay what they were on real
signal. With X the layer's inputs over the calibration chunks and H = X X^T
(`layer_inputs`):

- a weight's removal cost is w^2 / [H^-1]_ii (the OBS saliency); each matrix loses its
  ceil(s * n) cheapest weights, so the sparsity per tensor is exact as elsewhere;
- each row's surviving weights are then re-solved by least squares,
  w_K <- w_K + H_KK^-1 H_KP w_P (K kept, P pruned), which is the smallest possible
  change of that row's outputs; the input bias is solved with the input matrix (a
  constant input), so a pruned row's mean output shift is absorbed too.

GRUs are pruned in network order, each calibrated on the inputs the already-pruned
layers before it produce, so errors do not compound unseen. Calibration needs signal
only (no labels); the variant's training chunks serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelshrink.basecaller.compress.layer_inputs import damped, gru_hessians
from modelshrink.basecaller.compress.layout import network_layout
from modelshrink.basecaller.compress.training_chunks import (
    DEFAULT_CHUNK_SAMPLES,
    stored_chunk_samples,
)
from modelshrink.basecaller.compress.training_set import TrainingSet
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import assign_values
from modelshrink.toolbox.prune import PruneResult, apply_masks
from modelshrink.toolbox.sparsity import check_sparsity, pruned_count

#: At most this many training chunks calibrate (each adds ~0.4 MB of activations per
#: 1000 steps and GRU); more only refine H, whose size does not grow.
CALIBRATION_CHUNKS = 128


def calibration_chunk_samples(paths: Sequence[Path]) -> int:
    """Chunk length to calibrate on when the variant does not fine-tune (and so names
    none): that of the first chunk file, which is fixed, or mapped-signal's default."""
    for path in paths:
        stored = stored_chunk_samples(path)
        if stored is not None:
            return stored
    return DEFAULT_CHUNK_SAMPLES


def calibration_signals(training: TrainingSet, seed: int = 1) -> torch.Tensor:
    """Up to CALIBRATION_CHUNKS training chunks, drawn with a fixed seed, as the
    network's [samples, chunks, 1] input."""
    chosen = np.random.default_rng(seed).permutation(len(training))[:CALIBRATION_CHUNKS]
    return torch.from_numpy(training.signals[np.sort(chosen)]).T[:, :, None].contiguous()


def obs_prune_matrix(
    weight: torch.Tensor, hessian: torch.Tensor, count: int, fixed_columns: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(re-solved weight, keep-mask) with `count` weights removed from `weight` [rows,
    cols]; `hessian` [cols, cols] is X X^T of the inputs. The last `fixed_columns`
    columns (e.g. a bias as a constant input) are never pruned and not counted."""
    weight = weight.detach().to(torch.float64)
    hessian = damped(hessian)
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(hessian))
    prunable = weight.shape[1] - fixed_columns
    saliency = weight[:, :prunable] ** 2 / inverse.diagonal()[:prunable]
    prunable_keep = torch.ones(weight.shape[0], prunable, dtype=torch.bool)
    order = torch.sort(saliency.reshape(-1), stable=True).indices[:count]
    prunable_keep.view(-1)[order] = False
    keep = torch.cat(
        [prunable_keep, torch.ones(weight.shape[0], fixed_columns, dtype=torch.bool)], 1
    )
    solved = torch.zeros_like(weight)
    for row in range(weight.shape[0]):
        kept, pruned = keep[row], ~keep[row]
        if not pruned.any():
            solved[row] = weight[row]
            continue
        correction = torch.linalg.solve(
            hessian[kept][:, kept], hessian[kept][:, pruned] @ weight[row, pruned]
        )
        solved[row, kept] = weight[row, kept] + correction
    return solved.to(torch.float32), keep


def prune_obs(
    architecture: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    sparsity: Mapping[str, float],
    signals: torch.Tensor,
) -> PruneResult:
    """OBS-prune the GRU weights named in `sparsity` (names or globs -> fraction),
    calibrated on `signals` [samples, chunks, 1] of normalised raw signal."""
    from modelshrink.basecaller.layers import Reverse
    from modelshrink.basecaller.network import Architecture, build_network

    targets = assign_values(sparsity, tensors)
    layers = {layer.index: layer for layer in network_layout(architecture) if layer.kind == "gru"}
    gru_weights = {name for layer in layers.values() for name in layer.weights}
    other = sorted(set(targets) - gru_weights)
    if other:
        raise ModelshrinkError(
            f"prune method obs prunes GRU weight matrices only; not {other} "
            f"(GRU weights: {sorted(gru_weights)})"
        )
    if signals.shape[1] == 0:
        raise ModelshrinkError(
            "prune method obs needs calibration signal; the training set is empty"
        )
    network = build_network(Architecture.from_dict(architecture), tensors)
    result = {name: tensor.detach().clone() for name, tensor in tensors.items()}
    masks: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        activations = signals
        for index, sublayer in enumerate(network.sublayers):
            layer = layers.get(index)
            if layer is not None and any(name in targets for name in layer.weights):
                gru = network.get_submodule(layer.prefix)
                outputs = sublayer(activations)
                hessian_in, hessian_hidden = gru_hessians(
                    activations, outputs, isinstance(sublayer, Reverse)
                )
                name_ih, name_hh = layer.weights
                if name_ih in targets:
                    augmented = torch.cat([gru.weight_ih_l0, gru.bias_ih_l0[:, None]], 1)
                    fraction = check_sparsity(targets[name_ih], name_ih)
                    solved, keep = obs_prune_matrix(
                        augmented, hessian_in, pruned_count(gru.weight_ih_l0.numel(), fraction), 1
                    )
                    gru.weight_ih_l0.copy_(solved[:, :-1])
                    gru.bias_ih_l0.copy_(solved[:, -1])
                    masks[name_ih] = keep[:, :-1]
                    result[name_ih] = solved[:, :-1].contiguous()
                    result[f"{layer.prefix}.bias_ih_l0"] = solved[:, -1].contiguous()
                if name_hh in targets:
                    fraction = check_sparsity(targets[name_hh], name_hh)
                    solved, keep = obs_prune_matrix(
                        gru.weight_hh_l0,
                        hessian_hidden,
                        pruned_count(gru.weight_hh_l0.numel(), fraction),
                    )
                    gru.weight_hh_l0.copy_(solved)
                    masks[name_hh] = keep
                    result[name_hh] = solved
            activations = sublayer(activations)
    return PruneResult(apply_masks(result, masks), masks)
