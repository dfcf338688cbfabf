"""Quantization schemes: each a small config plus one function (torchao style).

Every function takes a float tensor and returns (dequantized float32 tensor,
`TensorEncoding`): the tensor is what the network computes with, the encoding is how
`storage.save_model` stores it (int codes + scales, fp16, 2-bit ternary codes), so the
reported size is the size of what was actually evaluated. Saving the dequantized
tensor with its encoding stores exactly the codes made here.

Schemes:
- `ScaleQuantConfig`: the original `scale_quant.py` (per-tensor asymmetric min/max,
  zero point clamped and truncated to an int; `float_format` stores dequantized
  float32 as they did, i.e. no size saving).
- `PerChannelConfig`: symmetric per-channel (per output row) N-bit with one-byte
  scales; what an 8-bit variant should use.
- `FloatConfig`: fp16 / bf16.
- `TernaryConfig`: the original ternary scheme ({-1, 0, +1} with thresholds +-0.5).
- `ScaledTernaryConfig`: ternary weight networks (threshold 0.7 mean|w|, one scale).

`fake_quantize` gives the straight-through estimator used by quantization-aware
fine-tuning: forward uses the quantized values, backward passes gradients unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import match_names, read_name_list, selectable
from modelshrink.toolbox.quantize_config import (  # noqa: F401  (re-exported)
    FloatConfig,
    PerChannelConfig,
    QuantizeConfig,
    ScaledTernaryConfig,
    ScaleQuantConfig,
    TernaryConfig,
    check_bits,
)
from modelshrink.toolbox.storage import (
    AffineEncoding,
    DenseEncoding,
    TensorEncoding,
    TernaryEncoding,
    affine_range,
    log8_decode,
    log8_encode,
)


def _float32(x: torch.Tensor) -> torch.Tensor:
    return x.detach().to(torch.float32)


def scale_quant_params(x: torch.Tensor, bits: int) -> tuple[float, int]:
    """(scale, zero point) exactly as the original `calcScaleZeroPoint`: the zero point
    qmin - min/scale is clamped to [qmin, qmax] and then truncated towards zero.

    A constant tensor (the original divided by zero there) gets its range widened to
    include 0; an all-zero tensor gets scale 1, zero point 0, and stays all zero.
    """
    qmin, qmax = affine_range(bits)
    low, high = x.min(), x.max()
    if low == high:
        low, high = torch.clamp(low, max=0), torch.clamp(high, min=0)
        if low == high:
            return 1.0, 0
    scale = (high - low) / (qmax - qmin)
    initial = float(qmin - low / scale)
    return float(scale), math.trunc(min(max(initial, qmin), qmax))


def quantize_scale(
    x: torch.Tensor, config: ScaleQuantConfig
) -> tuple[torch.Tensor, TensorEncoding]:
    """The original scale quantization; float_format stores the dequantized float32."""
    x = _float32(x)
    if x.numel() == 0:
        return x, DenseEncoding()
    scale, zero_point = scale_quant_params(x, config.bits)
    qmin, qmax = affine_range(config.bits)
    # the original clamps before rounding; with integer bounds the result is the same
    codes = (zero_point + x / scale).clamp(qmin, qmax).round()
    dequantized = scale * (codes - zero_point)
    if config.float_format:
        return dequantized, DenseEncoding("float32")
    return dequantized, AffineEncoding(config.bits, scale, zero_point)


def _fp16_scale(scale: torch.Tensor) -> torch.Tensor:
    """Scales as float16, rounded up so the channel maximum is never clipped, and never
    underflowing to zero for a non-zero channel."""
    half = scale.to(torch.float16)
    too_small = half.to(torch.float32) < scale
    half = torch.where(
        too_small, torch.nextafter(half, torch.tensor(math.inf, dtype=half.dtype)), half
    )
    tiny = torch.tensor(torch.finfo(torch.float16).tiny, dtype=torch.float16)
    return torch.where((scale > 0) & (half == 0), tiny, half)


def quantize_per_channel(
    x: torch.Tensor, config: PerChannelConfig
) -> tuple[torch.Tensor, TensorEncoding]:
    """Symmetric per-channel N-bit: scale_c = max|x_c| / qmax, codes in [-qmax, qmax]."""
    x = _float32(x)
    axis = config.axis if x.dim() > 1 else None
    qmax = affine_range(config.bits)[1]
    if axis is None:
        amax = x.abs().max().reshape(1) if x.numel() else torch.zeros(1)
    else:
        axis %= x.dim()
        other = [dim for dim in range(x.dim()) if dim != axis]
        amax = x.abs().amax(dim=other) if x.numel() else torch.zeros(x.shape[axis])
    scale = amax / qmax
    if config.scale_dtype == "float16":
        scale = _fp16_scale(scale)
    elif config.scale_dtype == "log8":
        scale = log8_decode(*log8_encode(scale, round_up=True))
    encoding = AffineEncoding(config.bits, scale, 0, axis, config.scale_dtype)
    view = [1] * x.dim()
    if axis is not None:
        view[axis] = -1
    wide = scale.to(torch.float32).reshape(view) if x.dim() else scale.to(torch.float32)[0]
    safe = torch.where(wide == 0, torch.ones_like(wide), wide)
    return (x / safe).round().clamp(-qmax, qmax) * wide, encoding


def quantize_float(x: torch.Tensor, config: FloatConfig) -> tuple[torch.Tensor, TensorEncoding]:
    """Round to fp16/bf16; the network then runs on the rounded values in float32."""
    dtype = torch.float16 if config.dtype == "float16" else torch.bfloat16
    return _float32(x).to(dtype).to(torch.float32), DenseEncoding(config.dtype)


def quantize_ternary(x: torch.Tensor, config: TernaryConfig) -> tuple[torch.Tensor, TensorEncoding]:
    """The original ternary mapping: values become exactly -1, 0 or +1."""
    x = _float32(x)
    codes = (x > config.threshold).to(torch.float32) - (x < -config.threshold).to(torch.float32)
    return codes, TernaryEncoding(1.0)


def quantize_scaled_ternary(
    x: torch.Tensor, config: ScaledTernaryConfig
) -> tuple[torch.Tensor, TensorEncoding]:
    """Ternary with a fitted threshold and scale (per tensor, or per channel on `axis`)."""
    x = _float32(x)
    axis = config.axis if x.dim() > 1 else None
    magnitude = x.abs()
    if axis is None:
        threshold = config.threshold_factor * magnitude.mean()
        above = magnitude > threshold
        scale = (magnitude * above).sum() / above.sum().clamp(min=1)
        codes = torch.sign(x) * above
        return scale * codes, TernaryEncoding(scale.reshape(1))
    axis %= x.dim()
    other = [dim for dim in range(x.dim()) if dim != axis]
    view = [1] * x.dim()
    view[axis] = -1
    threshold = config.threshold_factor * magnitude.mean(dim=other).reshape(view)
    above = magnitude > threshold
    scale = (magnitude * above).sum(dim=other) / above.sum(dim=other).clamp(min=1)
    codes = torch.sign(x) * above
    return scale.reshape(view) * codes, TernaryEncoding(scale, axis)


def quantize_tensor(x: torch.Tensor, config: QuantizeConfig) -> tuple[torch.Tensor, TensorEncoding]:
    """Apply whichever scheme `config` describes."""
    if isinstance(config, ScaleQuantConfig):
        return quantize_scale(x, config)
    if isinstance(config, PerChannelConfig):
        return quantize_per_channel(x, config)
    if isinstance(config, FloatConfig):
        return quantize_float(x, config)
    if isinstance(config, TernaryConfig):
        return quantize_ternary(x, config)
    if isinstance(config, ScaledTernaryConfig):
        return quantize_scaled_ternary(x, config)
    raise ModelshrinkError(f"unknown quantization config {type(config).__name__}")


def selected_names(names: Iterable[str], params: str | Sequence[str] = "all") -> list[str]:
    """The names `params` selects ("all", or names/globs as the original's list), once
    each, in order. "all" skips Taiyaki's always-zero GRU bias, as lists do."""
    if params == "all":
        return selectable(names)
    if isinstance(params, str):
        raise ModelshrinkError(f"params {params!r}: expected 'all' or a list of names")
    names = list(names)
    return list(dict.fromkeys(name for pattern in params for name in match_names(pattern, names)))


def quantize_tensors(
    tensors: Mapping[str, torch.Tensor],
    config: QuantizeConfig,
    params: str | Sequence[str] = "all",
) -> tuple[dict[str, torch.Tensor], dict[str, TensorEncoding]]:
    """Quantize the tensors `params` selects (`selected_names`).

    Returns every tensor (unselected ones unchanged) and the encodings of the
    quantized ones.
    """
    result = dict(tensors)
    encodings: dict[str, TensorEncoding] = {}
    for name in selected_names(tensors, params):
        result[name], encodings[name] = quantize_tensor(tensors[name], config)
    return result, encodings


def read_quantize_data_txt(path: Path) -> list[str]:
    """The original `scale_quant.py` list: one parameter name per line."""
    names = read_name_list(path)
    if not names:
        raise ModelshrinkError(f"{path}: expected one parameter name per line, found none")
    return names


class _StraightThrough(torch.autograd.Function):
    """Quantize on the way forward; pass the gradient through unchanged on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, config: QuantizeConfig) -> torch.Tensor:
        return quantize_tensor(x, config)[0].to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def fake_quantize(x: torch.Tensor, config: QuantizeConfig) -> torch.Tensor:
    """Quantized values forward, identity gradient backward (straight-through estimator).

    Scales are recomputed from the current weights on every call, so quantization-aware
    fine-tuning tracks the weights as they move.
    """
    return _StraightThrough.apply(x, config)
