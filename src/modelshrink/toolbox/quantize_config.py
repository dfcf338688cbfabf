"""The quantization schemes' configs: small frozen dataclasses, importable without torch.

Why a module of their own: `spec` parses every variant of a config at workflow start
(`validate_variants`), before any job runs, and must not pay for importing torch.
`quantize` holds the functions that apply these configs.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelshrink.errors import ModelshrinkError

#: How per-channel scales may be stored: plain floats, or 8-bit steps of 2^(1/16)
#: below the tensor's largest scale (see `storage.log8_encode`).
SCALE_FORMATS = ("float32", "float16", "log8")


def check_bits(bits: object, where: str = "bits") -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ModelshrinkError(f"{where}: {bits!r} must be a whole number of bits from 2 to 8")
    return bits


@dataclass(frozen=True)
class ScaleQuantConfig:
    """The original per-tensor asymmetric min/max ("scale") quantization."""

    bits: int = 8
    float_format: bool = False

    def __post_init__(self) -> None:
        check_bits(self.bits)


@dataclass(frozen=True)
class PerChannelConfig:
    """Symmetric per-channel quantization: one scale per index along `axis`.

    `scale_dtype` "log8" (the default) stores each channel's scale in one byte, as a
    power of 2^(1/16) below the tensor's largest scale, rounded up so no weight is
    clipped (at most 4.4 % coarser). Taiyaki's int8 payload is only ~285 kB and fp16
    scales alone cost 6 kB of it; one-byte scales are what let an 8-bit file reach 3.9x
    smaller than fp32. 1-D tensors (biases) get one scale for the whole tensor: a scale
    per element would cost more than the element.
    """

    bits: int = 8
    axis: int = 0
    scale_dtype: str = "log8"

    def __post_init__(self) -> None:
        check_bits(self.bits)
        if self.scale_dtype not in SCALE_FORMATS:
            raise ModelshrinkError(
                f"scale_dtype {self.scale_dtype!r}: expected one of {list(SCALE_FORMATS)}"
            )


@dataclass(frozen=True)
class FloatConfig:
    """Round to a 16-bit float format ("float16" or "bfloat16")."""

    dtype: str = "float16"

    def __post_init__(self) -> None:
        if self.dtype not in ("float16", "bfloat16"):
            raise ModelshrinkError(f"float dtype {self.dtype!r}: expected float16 or bfloat16")


@dataclass(frozen=True)
class TernaryConfig:
    """The original ternary scheme: +1 above `threshold`, -1 below -threshold, else 0."""

    threshold: float = 0.5


@dataclass(frozen=True)
class ScaledTernaryConfig:
    """Ternary weight networks: threshold = factor * mean|w|, value = +-mean of the
    magnitudes above it (the least-squares scale for that threshold)."""

    threshold_factor: float = 0.7
    axis: int | None = None


QuantizeConfig = (
    ScaleQuantConfig | PerChannelConfig | FloatConfig | TernaryConfig | ScaledTernaryConfig
)
