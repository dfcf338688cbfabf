"""GPTQ: per-channel N-bit codes chosen with the layer's real inputs in view.

Rounding every weight to its nearest code (`toolbox.quantize`) treats the weights as
independent; at 5 bits that costs Taiyaki's network ~2 points of read identity, at 4 bits
~10. GPTQ (Frantar et al. 2023, the quantization form of Optimal Brain Surgeon) rounds
one input column at a time and moves the not-yet-rounded columns, and the bias, to
cancel the rounding error on the calibration inputs: the update is the column's error
times the matching row of the upper Cholesky factor of H^-1 (H = X X^T,
`layer_inputs`). The codes and scales are the per-channel scheme's, stored the same way;
only which code each weight gets differs. On real signal, 5 bits then cost ~0.1 points
and 4 bits ~1.7 (bench/gptq_quality.py).

Layers are quantized in network order, each calibrated on the inputs that the already
quantized layers before it produce (as OBS pruning does). Zeros stay zero, so a pruned
model stays exactly as sparse. Biases and anything else named that is not a weight
matrix are rounded to nearest after their layer's weights have moved them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from modelshrink.basecaller.compress.layer_inputs import (
    conv_hessian,
    damped,
    gru_hessians,
    linear_hessian,
)
from modelshrink.basecaller.compress.layout import LayerLayout, network_layout
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.quantize import PerChannelConfig, quantize_per_channel
from modelshrink.toolbox.storage import AffineEncoding, TensorEncoding, affine_range


def _on_grid(values: torch.Tensor, step: torch.Tensor, qmax: int) -> torch.Tensor:
    """Each value rounded to its row's grid: `step` (per row, broadcastable) x an integer
    in [-qmax, qmax]; a zero step (an all-zero row) gives zeros."""
    safe = torch.where(step == 0, torch.ones_like(step), step)
    return (values / safe).round().clamp(-qmax, qmax) * step


def gptq_matrix(
    weight: torch.Tensor, hessian: torch.Tensor, scale: torch.Tensor, bits: int, fixed: int = 0
) -> torch.Tensor:
    """`weight` [rows, cols] with its first cols - `fixed` columns on the grid
    `scale` [rows] x integers in [-qmax, qmax]; the last `fixed` columns (a bias) only
    absorb error. `hessian` [cols, cols] is X X^T of the columns' inputs."""
    qmax = affine_range(bits)[1]
    keep = weight != 0
    keep[:, weight.shape[1] - fixed :] = True
    solved = weight.detach().to(torch.float64).clone()
    step = scale.to(torch.float64).reshape(-1)
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(damped(hessian)))
    factor = torch.linalg.cholesky(inverse, upper=True)
    for column in range(weight.shape[1] - fixed):
        original = solved[:, column]
        rounded = _on_grid(original, step, qmax)
        error = (original - rounded) / factor[column, column]
        solved[:, column] = rounded
        solved[:, column + 1 :] -= (
            error[:, None] * factor[column, column + 1 :][None, :] * keep[:, column + 1 :]
        )
    return solved.to(torch.float32)


def _quantized_weight(
    weight: torch.Tensor, hessian: torch.Tensor, config: PerChannelConfig, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None, AffineEncoding]:
    """GPTQ on one weight (any shape, output channels first), its bias absorbing error.
    The grid is the per-channel scheme's own (its scales, stored the same way)."""
    _, encoding = quantize_per_channel(weight, config)
    matrix = weight.detach().reshape(weight.shape[0], -1)
    if bias is not None:
        matrix = torch.cat([matrix, bias.detach()[:, None]], 1)
    solved = gptq_matrix(matrix, hessian, encoding.scale, config.bits, int(bias is not None))
    columns = weight[0].numel()
    # again in float32, so the values are exactly code x stored scale, as the file decodes
    step = encoding.scale.to(torch.float32)[:, None]
    quantized = _on_grid(solved[:, :columns], step, affine_range(config.bits)[1])
    return (
        quantized.reshape(weight.shape),
        (solved[:, columns] if bias is not None else None),
        encoding,
    )


def _layer_hessians(
    layer: LayerLayout, sublayer: torch.nn.Module, inputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """H per weight matrix of one layer, on the layer's `inputs`."""
    from modelshrink.basecaller.layers import Reverse

    if layer.kind == "conv":
        hessian = conv_hessian(inputs, sublayer.padding, layer.winlen, layer.stride)
        return {layer.weights[0]: hessian}
    if layer.kind == "gru":
        outputs = sublayer(inputs)
        hessian_in, hessian_hidden = gru_hessians(inputs, outputs, isinstance(sublayer, Reverse))
        return dict(zip(layer.weights, (hessian_in, hessian_hidden), strict=True))
    return {layer.weights[0]: linear_hessian(inputs)}


def _absorbing_bias(layer: LayerLayout, weight: str) -> str | None:
    """The bias that takes up a weight's error: the layer's own, the GRU's input bias
    for its input matrix; none for the recurrent matrix (its bias is Taiyaki's zero)."""
    if layer.kind == "gru":
        return layer.biases[0] if weight == layer.weights[0] else None
    return layer.biases[0]


def quantize_gptq(
    architecture: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    bits: Mapping[str, int],
    config: PerChannelConfig,
    signals: torch.Tensor,
) -> tuple[dict[str, torch.Tensor], dict[str, TensorEncoding]]:
    """Every tensor named in `bits` quantized per channel at its bit-width, weight
    matrices by GPTQ calibrated on `signals` [samples, chunks, 1], the rest rounded.
    Returns every tensor and the encodings of the quantized ones."""
    from modelshrink.basecaller.network import Architecture, build_network

    if signals.shape[1] == 0:
        raise ModelshrinkError("quantize method gptq needs calibration signal; none was given")
    network = build_network(Architecture.from_dict(architecture), tensors).eval()
    parameters = dict(network.named_parameters())
    result = {name: tensor.detach().clone() for name, tensor in tensors.items()}
    encodings: dict[str, TensorEncoding] = {}

    def store(name: str, value: torch.Tensor) -> None:
        result[name] = value.contiguous()
        parameters[name].copy_(value)

    activations = signals
    with torch.inference_mode():
        for layer, sublayer in zip(network_layout(architecture), network.sublayers, strict=True):
            chosen = [name for name in layer.weights if name in bits]
            hessians = _layer_hessians(layer, sublayer, activations) if chosen else {}
            for name in chosen:
                bias = _absorbing_bias(layer, name)
                quantized, moved_bias, encodings[name] = _quantized_weight(
                    result[name],
                    hessians[name],
                    replace(config, bits=bits[name]),
                    result[bias] if bias is not None else None,
                )
                store(name, quantized)
                if bias is not None and moved_bias is not None:
                    store(bias, moved_bias)
            for name in layer.biases:
                if name in bits:
                    rounded, encodings[name] = quantize_per_channel(
                        result[name], replace(config, bits=bits[name])
                    )
                    store(name, rounded)
            activations = sublayer(activations)
    return result, encodings
