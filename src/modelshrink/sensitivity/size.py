"""Estimated stored size of one tensor under one setting, as `compress.storage` stores it.

Dense float32 is 32 bits an element; N-bit codes N bits; a tensor is stored sparsely (one
mask bit per element plus the non-zeros) when that is smaller, as
`storage.compact_encoding` decides. Per-channel scales (one byte per row) are left out:
they are the same for every bit-width. The proposer ranks by these estimates; the file it
verifies reports the real bytes.
"""

from __future__ import annotations

from modelshrink.sensitivity.grid import SPARSITY, Setting

FLOAT_BITS = 32


def tensor_bits(parameters: int, sparsity: float = 0.0, bits: int = FLOAT_BITS) -> float:
    """Bits to store `parameters` elements at `bits` each with a `sparsity` fraction zero."""
    dense = parameters * bits
    sparse = parameters + (1 - sparsity) * parameters * bits
    return min(dense, sparse)


def stored_bits(parameters: int, setting: Setting) -> float:
    """The estimate for one scan setting (`none`: the float32 original)."""
    if setting.kind == SPARSITY:
        return tensor_bits(parameters, setting.value)
    if setting.kind == "bits":
        return tensor_bits(parameters, bits=int(setting.value))
    return tensor_bits(parameters)
