"""The work between the int8 U-Net's convolutions: ELU, reflect padding, uint8 quantization.

`fused_glue()` is int8_glue.cpp compiled for this CPU (one vectorized pass per tensor,
channels-last output); `aten_glue()` computes the same with ATen ops, for machines without
a C++ compiler and as the reference the tests hold the fused kernels to. Both quantize like
`quantized_decomposed.quantize_per_tensor` (the PT2E graph's op): round half to even of
x * (1 / scale), plus the zero point, clamped to [0, 255].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional

from modelshrink.native_build import build_inline

SOURCE = Path(__file__).with_name("int8_glue.cpp")


@dataclasses.dataclass(frozen=True)
class Glue:
    """`quantize_pad(x, scale, zero_point, elu, pad)`: float (N, C, H, W) -> optional ELU ->
    uint8 codes, reflect-padded by `pad` (0 or 1), channels-last.
    `lookup_pad(codes, table, pad)`: uint8 codes -> table[code] (256 uint8 or float32
    entries), reflect-padded, channels-last."""

    name: str
    quantize_pad: Callable[[torch.Tensor, float, int, bool, int], torch.Tensor]
    lookup_pad: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def _aten_quantize_pad(
    x: torch.Tensor, scale: float, zero_point: int, elu: bool, pad: int
) -> torch.Tensor:
    if elu:
        x = functional.elu(x)
    if pad:
        x = functional.pad(x, [pad] * 4, mode="reflect")
    codes = torch.clamp(torch.round(x * (1.0 / scale)) + zero_point, 0, 255).to(torch.uint8)
    return codes.contiguous(memory_format=torch.channels_last)


def _aten_lookup_pad(codes: torch.Tensor, table: torch.Tensor, pad: int) -> torch.Tensor:
    values = table[codes.long()]
    if pad:
        values = functional.pad(values, [pad] * 4, mode="reflect")
    return values.contiguous(memory_format=torch.channels_last)


def aten_glue() -> Glue:
    return Glue("aten", _aten_quantize_pad, _aten_lookup_pad)


def fused_glue() -> Glue | None:
    """The compiled kernels, or None where they cannot be built (a warning says why)."""
    compiled = build_inline("modelshrink_merfish_int8_glue", SOURCE, "ATen ops for the glue")
    if compiled is None:
        return None
    return Glue("fused", compiled.quantize_pad, compiled.lookup_pad)


def best_glue() -> Glue:
    return fused_glue() or aten_glue()
