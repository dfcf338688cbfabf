"""Pruning: exact counts, the original data.txt, globs, and structured shrinking."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from compress_fixtures import GRU_LAYERS, taiyaki_architecture, taiyaki_state_dict

from modelshrink.basecaller.compress.structured_prune import prune_structured
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.prune import (
    apply_masks,
    magnitude_mask,
    prune_global,
    prune_magnitude,
    read_prune_data_txt,
)

torch.set_num_threads(1)
IH1 = "sublayers.1.layer.cudnn_gru.weight_ih_l0"
HH2 = "sublayers.2.cudnn_gru.weight_hh_l0"
CONV = "sublayers.0.conv.weight"


def _zeros(tensor: torch.Tensor) -> int:
    return tensor.numel() - int(torch.count_nonzero(tensor))


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.25, 0.36, 0.5, 0.9])
def test_exact_sparsity_per_tensor(sparsity: float) -> None:
    tensors = taiyaki_state_dict()
    result = prune_magnitude(tensors, {IH1: sparsity, CONV: sparsity})
    for name in (IH1, CONV):
        expected = math.ceil(round(sparsity * tensors[name].numel(), 9))
        assert _zeros(result.tensors[name]) == expected
        assert int((~result.masks[name]).sum()) == expected
        # the smallest magnitudes went: every kept weight is at least every pruned one
        kept = tensors[name][result.masks[name]].abs()
        dropped = tensors[name][~result.masks[name]].abs()
        if dropped.numel():
            assert kept.min() >= dropped.max()
    assert torch.equal(result.tensors[HH2], tensors[HH2])  # untouched
    assert set(result.masks) == {IH1, CONV}


def test_ties_still_give_the_exact_count() -> None:
    tied = torch.ones(10, 10)
    tied[0, :5] = 0.5
    mask = magnitude_mask(tied, 0.3)
    assert int((~mask).sum()) == 30
    assert bool((~mask[0, :5]).all())  # the smaller ones go first
    # already-zero weights count towards the sparsity, never beyond it
    sparse = torch.randn(100)
    sparse[:20] = 0
    assert int((~magnitude_mask(sparse, 0.5)).sum()) == 50


def test_float_noise_does_not_add_a_weight() -> None:
    assert int((~magnitude_mask(torch.randn(10), 0.3)).sum()) == 3
    assert int((~magnitude_mask(torch.randn(1824), 0.1)).sum()) == 183  # ceil(182.4)


def test_glob_covers_reversed_and_plain_grus() -> None:
    tensors = taiyaki_state_dict()
    result = prune_magnitude(tensors, {"sublayers.*.cudnn_gru.weight_hh_l0": 0.5})
    expected = {f"{prefix}.cudnn_gru.weight_hh_l0" for prefix in GRU_LAYERS.values()}
    assert set(result.masks) == expected
    for name in expected:
        assert _zeros(result.tensors[name]) == tensors[name].numel() // 2


def test_glob_skips_the_frozen_bias_but_naming_it_is_an_error() -> None:
    tensors = taiyaki_state_dict()
    result = prune_magnitude(tensors, {"sublayers.2.*": 0.5})
    assert "sublayers.2.cudnn_gru.bias_hh_l0" not in result.masks
    assert len(result.masks) == 3
    with pytest.raises(ModelshrinkError, match="always-zero GRU bias"):
        prune_magnitude(tensors, {"sublayers.2.cudnn_gru.bias_hh_l0": 0.5})


def test_unknown_name_lists_the_valid_ones() -> None:
    tensors = taiyaki_state_dict()
    with pytest.raises(
        ModelshrinkError, match=r"unknown parameter 'sublayers\.1\.cudnn_gru"
    ) as info:
        prune_magnitude(tensors, {"sublayers.1.cudnn_gru.weight_ih_l0": 0.5})
    assert IH1 in str(info.value) and "bias_hh_l0" not in str(info.value)
    with pytest.raises(ModelshrinkError, match="matches no parameter"):
        prune_magnitude(tensors, {"sublayers.9.*": 0.5})


def test_conflicting_values_and_bad_sparsity() -> None:
    tensors = taiyaki_state_dict()
    with pytest.raises(ModelshrinkError, match=r"gets 0\.5 from .* and 0\.2 from"):
        prune_magnitude(tensors, {HH2: 0.5, "sublayers.*.weight_hh_l0": 0.2})
    for bad in (1.0, -0.1, "half"):
        with pytest.raises(ModelshrinkError, match=r"must be a number in \[0, 1\)"):
            prune_magnitude(tensors, {HH2: bad})


def test_original_data_txt_parses(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("sublayers.0.conv.weight\n0.1\nsublayers.1.layer.cudnn_gru.weight_ih_l0\n0.1\n")
    assert read_prune_data_txt(path) == {CONV: 0.1, IH1: 0.1}
    path.write_text(f"{CONV}\n0.1\n{IH1}\n")
    with pytest.raises(ModelshrinkError, match="odd number of lines"):
        read_prune_data_txt(path)
    path.write_text(f"{CONV}\nhalf\n")
    with pytest.raises(ModelshrinkError, match=r"line after 'sublayers\.0\.conv\.weight'"):
        read_prune_data_txt(path)
    path.write_text(f"{CONV}\n1.5\n")
    with pytest.raises(ModelshrinkError, match=r"data\.txt: sublayers\.0\.conv\.weight"):
        read_prune_data_txt(path)
    with pytest.raises(ModelshrinkError, match="cannot read"):
        read_prune_data_txt(tmp_path / "absent.txt")


def test_global_pruning_counts_over_the_group() -> None:
    tensors = taiyaki_state_dict()
    tensors[HH2] = tensors[HH2] * 0.1  # a layer of small weights loses the most
    group = "sublayers.*.cudnn_gru.weight_*"
    result = prune_global(tensors, {group: 0.5})
    assert len(result.masks) == 10
    total = sum(tensors[name].numel() for name in result.masks)
    assert sum(_zeros(result.tensors[name]) for name in result.masks) == total // 2
    assert _zeros(result.tensors[HH2]) / tensors[HH2].numel() > 0.95
    with pytest.raises(ModelshrinkError, match="overlaps"):
        prune_global(tensors, {group: 0.5, HH2: 0.2})


def test_masks_keep_zeros_after_an_update() -> None:
    tensors = taiyaki_state_dict()
    result = prune_magnitude(tensors, {HH2: 0.5})
    updated = {name: tensor + 0.01 for name, tensor in result.tensors.items()}
    again = apply_masks(updated, result.masks)
    assert _zeros(again[HH2]) == tensors[HH2].numel() // 2
    assert torch.equal(again[IH1], updated[IH1])


def _gru_stack(tensors: dict[str, torch.Tensor], x: torch.Tensor, size2: int) -> torch.Tensor:
    """Layers 2 (GRU) and 3 (reversed GRU) as torch modules, for an outcome check."""
    gru2, gru3 = torch.nn.GRU(96, size2), torch.nn.GRU(size2, 96)
    gru2.load_state_dict(
        {k.split(".")[-1]: v for k, v in tensors.items() if k.startswith("sublayers.2.")}
    )
    gru3.load_state_dict(
        {k.split(".")[-1]: v for k, v in tensors.items() if k.startswith("sublayers.3.")}
    )
    with torch.no_grad():
        return gru3(gru2(x)[0].flip(0))[0].flip(0)


def test_structured_removes_invisible_units_without_changing_the_output() -> None:
    tensors = taiyaki_state_dict()
    architecture = taiyaki_architecture()
    dead = torch.arange(0, 96, 4)  # 24 units whose weights in and out are zero
    prefix, following = "sublayers.2.cudnn_gru", "sublayers.3.layer.cudnn_gru"
    for name in ("weight_ih_l0", "weight_hh_l0"):
        tensors[f"{prefix}.{name}"][torch.cat([dead, dead + 96, dead + 192])] = 0
    tensors[f"{prefix}.weight_hh_l0"][:, dead] = 0
    tensors[f"{following}.weight_ih_l0"][:, dead] = 0

    result = prune_structured(tensors, architecture, {"sublayers.2.cudnn_gru.weight_hh_l0": 0.25})
    assert result.kept[2] == [j for j in range(96) if j % 4]
    assert result.tensors[f"{prefix}.weight_ih_l0"].shape == (216, 96)
    assert result.tensors[f"{prefix}.weight_hh_l0"].shape == (216, 72)
    assert result.tensors[f"{prefix}.bias_ih_l0"].shape == (216,)
    assert result.tensors[f"{prefix}.bias_hh_l0"].shape == (216,)
    assert result.tensors[f"{following}.weight_ih_l0"].shape == (288, 72)
    assert result.architecture["layers"][2]["size"] == 72
    assert result.architecture["layers"][3]["layer"]["insize"] == 72
    assert architecture["layers"][2]["size"] == 96  # the input is not modified

    x = torch.randn(30, 2, 96, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(_gru_stack(tensors, x, 96), _gru_stack(result.tensors, x, 72), atol=1e-5)


def test_structured_conv_channels_and_chained_layers() -> None:
    tensors = taiyaki_state_dict()
    result = prune_structured(tensors, taiyaki_architecture(), {"sublayers.[0-1]": 0.5})
    assert result.tensors[CONV].shape == (48, 1, 19)
    assert result.tensors["sublayers.0.conv.bias"].shape == (48,)
    assert result.tensors[IH1].shape == (144, 48)
    assert result.tensors["sublayers.1.layer.cudnn_gru.weight_hh_l0"].shape == (144, 48)
    assert result.tensors["sublayers.2.cudnn_gru.weight_ih_l0"].shape == (288, 48)
    layers = result.architecture["layers"]
    assert (layers[0]["size"], layers[1]["layer"]["insize"], layers[1]["layer"]["size"]) == (
        48,
        48,
        48,
    )
    assert layers[2]["insize"] == 48
    with pytest.raises(ModelshrinkError, match="output layer"):
        prune_structured(tensors, taiyaki_architecture(), {"sublayers.6": 0.5})
    with pytest.raises(ModelshrinkError, match=r"unknown layer 'sublayers\.7'"):
        prune_structured(tensors, taiyaki_architecture(), {"sublayers.7": 0.5})
