"""Synthetic Taiyaki R9.4.1 state dicts for the compression tests.

Random tensors with exactly Taiyaki's parameter names and shapes, so the compression
tests need neither the real checkpoint nor the model code.
"""

from __future__ import annotations

from typing import Any

import torch

GRU_LAYERS = {
    1: "sublayers.1.layer",
    2: "sublayers.2",
    3: "sublayers.3.layer",
    4: "sublayers.4",
    5: "sublayers.5.layer",
}


def taiyaki_architecture(size: int = 96) -> dict[str, Any]:
    """The architecture dict the model code stores (layer configs by type)."""
    gru = {"type": "gru", "insize": size, "size": size}
    return {
        "family": "taiyaki-flipflop",
        "alphabet": "ACGT",
        "layers": [
            {
                "type": "convolution",
                "insize": 1,
                "size": size,
                "winlen": 19,
                "stride": 4,
                "padding": [9, 9],
                "activation": "tanh",
                "has_bias": True,
            },
            {"type": "reverse", "layer": dict(gru)},
            dict(gru),
            {"type": "reverse", "layer": dict(gru)},
            dict(gru),
            {"type": "reverse", "layer": dict(gru)},
            {
                "type": "global_norm_flipflop",
                "insize": size,
                "nbase": 4,
                "scale": 5.0,
                "activation": "tanh",
            },
        ],
    }


def taiyaki_state_dict(seed: int = 0, size: int = 96) -> dict[str, torch.Tensor]:
    """Random weights in Taiyaki's names and shapes; bias_hh_l0 all zero as in Taiyaki."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.3

    tensors = {"sublayers.0.conv.weight": rand(size, 1, 19), "sublayers.0.conv.bias": rand(size)}
    for prefix in GRU_LAYERS.values():
        tensors[f"{prefix}.cudnn_gru.weight_ih_l0"] = rand(3 * size, size)
        tensors[f"{prefix}.cudnn_gru.weight_hh_l0"] = rand(3 * size, size)
        tensors[f"{prefix}.cudnn_gru.bias_ih_l0"] = rand(3 * size)
        tensors[f"{prefix}.cudnn_gru.bias_hh_l0"] = torch.zeros(3 * size)
    tensors["sublayers.6.linear.weight"] = rand(40, size)
    tensors["sublayers.6.linear.bias"] = rand(40)
    return tensors
