"""Size accounting that does not depend on the file format: parameters, non-zeros, MACs.

Multiply-accumulates are per input tile and count conv layers only (the rest is elementwise).
`nonzero_macs` counts only weights that are not zero: what a sparse kernel would have to do.
"""

from __future__ import annotations

import torch
from torch import nn

from modelshrink.merfish.quantize import example_input


def conv_macs(model: nn.Module, image_size: int) -> dict[str, int]:
    """Dense and non-zero MACs of one (1, 16, image_size, image_size) tile through `model`."""
    totals = {"macs": 0, "nonzero_macs": 0}

    def count(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        positions = output.shape[-2] * output.shape[-1]
        per_position = module.weight[0].numel()  # in_channels / groups * kh * kw
        totals["macs"] += positions * per_position * module.out_channels
        totals["nonzero_macs"] += positions * int(torch.count_nonzero(module.weight))

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(example_input(image_size))
    finally:
        for hook in hooks:
            hook.remove()
    return totals


def parameter_counts(model: nn.Module) -> dict[str, int]:
    parameters = list(model.parameters())
    return {
        "parameters": sum(p.numel() for p in parameters),
        "nonzero_parameters": sum(int(torch.count_nonzero(p)) for p in parameters),
    }
