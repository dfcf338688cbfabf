"""OBS pruning: exact counts, optimal surviving weights, and a network closer to the
original than magnitude pruning leaves it."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from compress_fixtures import taiyaki_architecture, taiyaki_state_dict

from modelshrink.basecaller.compress.obs_prune import (
    calibration_chunk_samples,
    calibration_signals,
    obs_prune_matrix,
    prune_obs,
)
from modelshrink.basecaller.compress.training_set import TrainingSet
from modelshrink.basecaller.network import Architecture, build_network
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.prune import prune_magnitude

torch.set_num_threads(1)
SIZE = 16
HALF = {"sublayers.*.cudnn_gru.weight_ih_l0": 0.375, "sublayers.*.cudnn_gru.weight_hh_l0": 0.625}


def correlated_inputs(columns: int, samples: int = 2000) -> torch.Tensor:
    """Inputs [columns, samples] driven by a few shared factors plus noise: strongly
    correlated features, as a GRU's inputs and states are."""
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(columns, 3, generator=generator)
    factors = mixing @ torch.randn(3, samples, generator=generator)
    return factors + 0.1 * torch.randn(columns, samples, generator=generator)


def test_obs_matrix_prunes_exactly_and_reconstructs_better_than_magnitude() -> None:
    inputs = correlated_inputs(12)
    hessian = inputs @ inputs.T
    weight = torch.randn(9, 12, generator=torch.Generator().manual_seed(1))
    solved, keep = obs_prune_matrix(weight, hessian, count=50)
    assert (~keep).sum() == 50 and torch.all(solved[~keep] == 0)
    magnitude = prune_magnitude({"w": weight}, {"w": 50 / weight.numel()}).tensors["w"]

    def error(pruned: torch.Tensor) -> float:
        return float(((weight - pruned) @ inputs).square().sum())

    assert error(solved) < 0.5 * error(magnitude)


def test_obs_survivors_are_the_least_squares_optimum_for_their_mask() -> None:
    inputs = correlated_inputs(10)
    hessian = inputs @ inputs.T
    weight = torch.randn(4, 10, generator=torch.Generator().manual_seed(2))
    solved, keep = obs_prune_matrix(weight, hessian, count=16)
    # at the optimum the error's gradient vanishes on every kept weight (up to damping)
    gradient = (solved.double() - weight.double()) @ hessian.double()
    scale = (weight.double() @ hessian.double()).abs().max()
    assert gradient[keep].abs().max() < 0.05 * scale


def test_fixed_columns_are_kept_and_not_counted() -> None:
    inputs = torch.cat([correlated_inputs(6), torch.ones(1, 2000)])
    hessian = inputs @ inputs.T
    weight = torch.randn(5, 7, generator=torch.Generator().manual_seed(3))
    solved, keep = obs_prune_matrix(weight, hessian, count=15, fixed_columns=1)
    assert keep[:, -1].all() and (~keep[:, :-1]).sum() == 15
    assert torch.all(solved[:, :-1][~keep[:, :-1]] == 0)
    assert not torch.allclose(solved[:, -1], weight[:, -1])  # the bias absorbs the cut


def synthetic_network() -> tuple[dict, dict[str, torch.Tensor], torch.Tensor]:
    architecture = taiyaki_architecture(SIZE)
    tensors = {name: tensor / 2 for name, tensor in taiyaki_state_dict(0, SIZE).items()}
    signals = torch.randn(800, 12, 1, generator=torch.Generator().manual_seed(4))
    return architecture, tensors, signals


def scores(architecture: dict, tensors: dict[str, torch.Tensor], signal: torch.Tensor):
    network = build_network(Architecture.from_dict(architecture), tensors)
    with torch.inference_mode():
        return network(signal)


def test_network_pruned_by_obs_stays_closer_to_the_original() -> None:
    architecture, tensors, signals = synthetic_network()
    result = prune_obs(architecture, tensors, HALF, signals)
    for name, mask in result.masks.items():
        fraction = 0.375 if name.endswith("weight_ih_l0") else 0.625
        assert (~mask).sum() == round(fraction * mask.numel())
        assert torch.all(result.tensors[name][~mask] == 0)
    assert len(result.masks) == 10
    held_out = torch.randn(800, 6, 1, generator=torch.Generator().manual_seed(5))
    original = scores(architecture, tensors, held_out)
    obs = scores(architecture, result.tensors, held_out)
    magnitude = scores(architecture, prune_magnitude(tensors, HALF).tensors, held_out)
    assert (obs - original).square().mean() < 0.5 * (magnitude - original).square().mean()


def test_obs_refuses_non_gru_weights_and_empty_calibration() -> None:
    architecture, tensors, signals = synthetic_network()
    with pytest.raises(ModelshrinkError, match=r"GRU weight matrices only; not \['sublayers.0"):
        prune_obs(architecture, tensors, {"sublayers.0.conv.weight": 0.5}, signals)
    with pytest.raises(ModelshrinkError, match="needs calibration signal"):
        prune_obs(architecture, tensors, HALF, signals[:, :0])


def test_calibration_draws_a_bounded_seeded_subset() -> None:
    signals = np.arange(300 * 5, dtype=np.float32).reshape(300, 5)
    training = TrainingSet(signals, tuple(np.zeros(1, dtype=np.int64) for _ in range(300)), 0)
    drawn = calibration_signals(training)
    assert drawn.shape == (5, 128, 1)
    assert torch.equal(drawn, calibration_signals(training))


def test_calibration_chunk_length_follows_the_chunk_files(
    tmp_path: Path, shared_data: Path
) -> None:
    chunks = tmp_path / "chunks.hdf5"
    with h5py.File(chunks, "w") as handle:
        handle.attrs["format"] = "modelshrink-training-chunks"
        handle.attrs["chunk_samples"] = 2000
    mapped = sorted((shared_data / "taiyaki" / "mapped_signal").glob("*.hdf5"))
    assert calibration_chunk_samples([*mapped, chunks]) == 2000
    assert calibration_chunk_samples(mapped) == 4000  # mapped signal cuts to any length
