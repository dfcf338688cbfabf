"""Cost accounting: Taiyaki's published MAC counts, and sparsity-aware MACs."""

from __future__ import annotations

import pytest
import torch
from compress_fixtures import taiyaki_architecture, taiyaki_state_dict

from modelshrink.basecaller.compress.cost import dense_macs_per_step, model_cost
from modelshrink.basecaller.compress.structured_prune import prune_structured
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.prune import prune_magnitude

torch.set_num_threads(1)


def test_taiyaki_r941_counts() -> None:
    cost = model_cost(taiyaki_architecture(), taiyaki_state_dict(), file_bytes=1_140_640)
    # conv 19*1*96 + 5 GRUs 3*(96+96)*96 + linear 96*40 = 282,144 (TAIYAKI_FACTS: ~282 k)
    assert cost.macs_per_step == 1824 + 5 * 55296 + 3840 == 282_144
    assert cost.stride == 4
    assert cost.macs_per_sample == 70_536
    assert cost.parameters == 285_160
    assert cost.nonzero_parameters == 285_160 - 5 * 288  # the zero GRU biases
    assert cost.sparse_macs_per_step == cost.macs_per_step
    assert cost.bits_per_parameter == pytest.approx(32.0)
    assert cost.to_dict()["sparse_macs_per_sample"] == 70_536


def test_sparse_macs_follow_the_non_zeros() -> None:
    tensors = taiyaki_state_dict()
    pruned = prune_magnitude(tensors, {"sublayers.*.cudnn_gru.weight_hh_l0": 0.5}).tensors
    cost = model_cost(taiyaki_architecture(), pruned)
    assert cost.macs_per_step == 282_144
    assert cost.sparse_macs_per_step == 282_144 - 5 * 288 * 96 // 2
    assert cost.nonzero_parameters == 285_160 - 5 * 288 - 5 * 288 * 96 // 2


def test_structured_pruning_lowers_dense_macs() -> None:
    result = prune_structured(taiyaki_state_dict(), taiyaki_architecture(), {"sublayers.2": 0.5})
    cost = model_cost(result.architecture, result.tensors)
    # layers 1, 4, 5 unchanged; layer 2: 3*(96+48)*48; layer 3 input shrinks: 3*(48+96)*96
    expected = 1824 + 3 * 55296 + 3 * (96 + 48) * 48 + 3 * (48 + 96) * 96 + 3840
    assert cost.macs_per_step == dense_macs_per_step(result.architecture) == expected


def test_mismatched_weights_are_refused() -> None:
    tensors = taiyaki_state_dict()
    del tensors["sublayers.6.linear.weight"]
    with pytest.raises(ModelshrinkError, match=r"sublayers\.6\.linear\.weight"):
        model_cost(taiyaki_architecture(), tensors)
    with pytest.raises(ModelshrinkError, match="do not match the architecture"):
        model_cost(taiyaki_architecture(64), taiyaki_state_dict())
