"""The one on-disk format for every model and variant: a single .safetensors file.

Why one format: the reported model size is the number of bytes of this file, so every
saving a variant claims (int8 weights, fp16, pruned zeros) must be real bytes saved
here. Zeros stored densely are not savings; a sparse tensor is stored as a packed
bitmask plus its non-zero values, and integers narrower than 8 bits are bit-packed.

Layout. The safetensors `__metadata__` header (str -> str) holds JSON strings:

- ``format``: ``"modelshrink/2"``
- ``architecture``: the network description (owned by the model code, opaque here)
- ``encodings``: per tensor, how it was stored (kind, shape and kind-specific fields)
- ``metadata``: free-form provenance (opaque here)

A densely stored tensor keeps its own name, dtype and shape, so any safetensors
reader sees it as-is. Every other tensor (int codes, ternary, sparse) is a byte range
``at: [start, end]`` of one uint8 tensor named ``modelshrink:encoded``, its parts
back to back: scales, zero points (only when any is non-zero), the bitmask (sparse
with non-zeros), then the packed elements. One blob rather than a safetensors entry
per part keeps the header small: for an int8 Taiyaki model (285 k parameters) the
per-part entries alone cost ~2 % of the file. Loading never runs code: safetensors
holds only raw arrays, and the JSON is parsed with `json`. Every file is read as hostile:
the safetensors framing is checked against the file (`safetensors_layout`), every
`encodings` entry's types, shape and byte range before it is decoded, and the elements all
tensors decode to may not exceed MAX_ELEMENTS (an all-zero sparse tensor costs no bytes,
so the file size alone does not bound them).

Files of format ``modelshrink/1`` (the previous layout) are read when every tensor in
them is dense, which is what `modelshrink convert` wrote.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError, quoted
from modelshrink.toolbox.safetensors_layout import MAX_DIMENSIONS, check_layout, is_int_list

FORMAT_VERSION = "modelshrink/2"
#: Older formats still read when every tensor is dense (their dense layout is ours).
DENSE_ONLY_FORMATS = ("modelshrink/1",)
HEADER_KEYS = ("format", "architecture", "encodings", "metadata")
BLOB_KEY = "modelshrink:encoded"
#: log8 scales: one byte per scale, 2^(1/16) per step below the largest scale.
LOG8_STEPS_PER_OCTAVE = 16
#: Most elements one file may decode to: 2^28 float32 values (1 GiB), ~1000x the Taiyaki model.
MAX_ELEMENTS = 2**28
_SCALE_BYTES = {"float32": 4, "float16": 2}

_FLOAT_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_DTYPE_NAMES = {dtype: name for name, dtype in _FLOAT_DTYPES.items()}


# --- encodings: small typed specs of how one tensor is stored -------------------------


@dataclass(frozen=True)
class DenseEncoding:
    """Every element stored as a float of `dtype` (float32, float16 or bfloat16)."""

    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in _FLOAT_DTYPES:
            raise ModelshrinkError(
                f"dense encoding dtype {self.dtype!r}: expected one of {sorted(_FLOAT_DTYPES)}"
            )


def _as_vector(value: torch.Tensor | float, what: str) -> torch.Tensor:
    """Scales and zero points are kept as 1-D tensors: length 1 (per tensor) or C."""
    tensor = torch.as_tensor(value).detach().cpu()
    if tensor.dim() > 1:
        raise ModelshrinkError(f"{what} must be a scalar or 1-D, got shape {list(tensor.shape)}")
    return tensor.reshape(-1)


def log8_encode(scale: torch.Tensor, round_up: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Scales as (largest scale, float32 [1]; exponents, uint8 [C]):
    scale_c = largest * 2^(-exponent_c / 16). Exponents saturate at 255 (2^-16 of the
    largest); zero scales (all-zero channels) also get 255.

    `round_up` picks the nearest grid value at or above each scale, so quantizing with
    it never clips a channel's largest weight; otherwise the nearest grid value.
    """
    scale = scale.detach().to(torch.float32).reshape(-1)
    largest = scale.max().clamp(min=0) if scale.numel() else torch.tensor(0.0)
    if largest == 0:
        return largest.reshape(1), torch.zeros(scale.numel(), dtype=torch.uint8)
    steps = -LOG8_STEPS_PER_OCTAVE * torch.log2(scale.clamp(min=0) / largest)
    exponents = (steps + 1e-4).floor() if round_up else steps.round()
    exponents = exponents.nan_to_num(posinf=255).clamp(0, 255)
    if round_up:
        too_small = log8_decode(largest, exponents) < scale
        exponents = (exponents - too_small.to(exponents.dtype)).clamp(min=0)
    return largest.reshape(1), exponents.to(torch.uint8)


def log8_decode(largest: torch.Tensor, exponents: torch.Tensor) -> torch.Tensor:
    """Inverse of `log8_encode`: float32 scales."""
    powers = torch.exp2(-exponents.to(torch.float32) / LOG8_STEPS_PER_OCTAVE)
    return largest.to(torch.float32).reshape(-1)[:1] * powers


def _stored_scale(
    value: torch.Tensor | float, scale_format: str | None
) -> tuple[torch.Tensor, str]:
    """The scale vector as it will be stored, and its storage format."""
    scale = _as_vector(value, "scale")
    if not scale.is_floating_point():
        scale = scale.to(torch.float32)
    if scale_format is None:
        scale_format = _DTYPE_NAMES.get(scale.dtype, "")
    if scale_format == "log8":
        return log8_decode(*log8_encode(scale)), scale_format
    if scale_format not in _SCALE_BYTES:
        raise ModelshrinkError(
            f"scale format {scale_format or scale.dtype!r}: expected float32, float16 or log8"
        )
    return scale.to(_FLOAT_DTYPES[scale_format]), scale_format


@dataclass(frozen=True, eq=False)
class AffineEncoding:
    """Integers q in [-2^(bits-1), 2^(bits-1)-1]; value = scale * (q - zero_point).

    `axis` None means one scale/zero point for the whole tensor; otherwise one per
    index along `axis` (per channel). `scale_format` says how scales are stored:
    "float32"/"float16" (default: the scale tensor's own dtype) or "log8", one byte per
    scale (`log8_encode`), whose values the scales are snapped to here so that the codes
    computed from them are the codes stored. Per-channel scale bytes matter for a model
    whose whole int8 payload is only ~285 kB. Codes narrower than 8 bits are packed.
    """

    bits: int
    scale: torch.Tensor | float
    zero_point: torch.Tensor | int = 0
    axis: int | None = None
    scale_format: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ModelshrinkError(f"affine encoding bits {self.bits!r}: expected 2-8")
        scale, scale_format = _stored_scale(self.scale, self.scale_format)
        object.__setattr__(self, "scale_format", scale_format)
        zero_point = _as_vector(self.zero_point, "zero_point").round().to(torch.int32)
        qmin, qmax = affine_range(self.bits)
        if zero_point.numel() and (zero_point.min() < qmin or zero_point.max() > qmax):
            raise ModelshrinkError(
                f"affine zero_point outside [{qmin}, {qmax}] for {self.bits} bits"
            )
        if zero_point.numel() == 1 and scale.numel() > 1:
            zero_point = zero_point.expand(scale.numel()).clone()
        if zero_point.numel() != scale.numel():
            raise ModelshrinkError(
                f"affine encoding has {scale.numel()} scales but {zero_point.numel()} zero points"
            )
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zero_point)


@dataclass(frozen=True, eq=False)
class TernaryEncoding:
    """Codes in {-1, 0, +1} packed 2 bits each; value = scale * code.

    scale 1.0 is the original tool's unscaled ternary scheme.
    """

    scale: torch.Tensor | float = 1.0
    axis: int | None = None

    def __post_init__(self) -> None:
        scale = _as_vector(self.scale, "scale")
        if not scale.is_floating_point() or scale.dtype not in (torch.float32, torch.float16):
            scale = scale.to(torch.float32)
        object.__setattr__(self, "scale", scale)

    @property
    def scale_format(self) -> str:
        return _DTYPE_NAMES[self.scale.dtype]


ValueEncoding = DenseEncoding | AffineEncoding | TernaryEncoding


@dataclass(frozen=True)
class SparseEncoding:
    """A packed bitmask of the non-zero positions plus the non-zero values only.

    The values are themselves stored with `values` (dense float, affine ints, ternary),
    so a pruned and quantized tensor pays n/8 bytes for the mask plus nnz * bits/8.
    """

    values: ValueEncoding = field(default_factory=DenseEncoding)

    def __post_init__(self) -> None:
        if not isinstance(self.values, DenseEncoding | AffineEncoding | TernaryEncoding):
            raise ModelshrinkError(
                f"sparse encoding values: expected a dense, affine or ternary encoding, "
                f"got {type(self.values).__name__}"
            )


TensorEncoding = DenseEncoding | AffineEncoding | TernaryEncoding | SparseEncoding


def affine_range(bits: int) -> tuple[int, int]:
    """The signed integer range of `bits`-bit affine codes, as the original tool used."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


# --- bit packing -----------------------------------------------------------------------


def pack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned codes (< 2^bits) into ceil(n * bits / 8) bytes, little-endian bits."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1)
    if bits == 8:
        return codes
    planes = np.unpackbits(codes[:, None], axis=1, bitorder="little")[:, :bits]
    return np.packbits(planes.reshape(-1), bitorder="little")


def unpack_bits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of `pack_bits`: `count` unsigned codes as uint8."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1)
    if bits == 8:
        return packed[:count].copy()
    planes = np.unpackbits(packed, count=count * bits, bitorder="little").reshape(count, bits)
    return np.packbits(planes, axis=1, bitorder="little").reshape(-1)


# --- per-kind encode / decode ----------------------------------------------------------


def _broadcast(vector: torch.Tensor, axis: int | None, shape: torch.Size) -> torch.Tensor:
    """A per-tensor or per-channel vector shaped to broadcast against `shape`."""
    vector = vector.to(torch.float32)
    if axis is None:
        if vector.numel() != 1:
            raise ModelshrinkError(f"per-tensor encoding needs 1 scale, got {vector.numel()}")
        return vector.reshape([1] * len(shape)) if shape else vector.reshape(())
    if not -len(shape) <= axis < len(shape):
        raise ModelshrinkError(f"encoding axis {axis} is out of range for shape {list(shape)}")
    axis %= len(shape)
    if vector.numel() != shape[axis]:
        raise ModelshrinkError(
            f"per-channel encoding along axis {axis} needs {shape[axis]} scales, "
            f"got {vector.numel()}"
        )
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return vector.reshape(view)


def _affine_codes(x: torch.Tensor, enc: AffineEncoding) -> torch.Tensor:
    """Signed integer codes of `x` (clamped, rounded); exact for already-dequantized x."""
    scale = _broadcast(enc.scale, enc.axis, x.shape)
    zero_point = _broadcast(enc.zero_point, enc.axis, x.shape)
    safe_scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    qmin, qmax = affine_range(enc.bits)
    return (x / safe_scale + zero_point).round().clamp(qmin, qmax).to(torch.int16)


def _affine_values(codes: torch.Tensor, enc: AffineEncoding) -> torch.Tensor:
    scale = _broadcast(enc.scale, enc.axis, codes.shape)
    zero_point = _broadcast(enc.zero_point, enc.axis, codes.shape)
    return scale * (codes.to(torch.float32) - zero_point)


def _ternary_codes(x: torch.Tensor, enc: TernaryEncoding) -> torch.Tensor:
    scale = _broadcast(enc.scale, enc.axis, x.shape)
    safe_scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    return (x / safe_scale).round().clamp(-1, 1).to(torch.int16)


def _ternary_values(codes: torch.Tensor, enc: TernaryEncoding) -> torch.Tensor:
    return _broadcast(enc.scale, enc.axis, codes.shape) * codes.to(torch.float32)


def _elements(x: torch.Tensor, enc: ValueEncoding) -> torch.Tensor:
    """What is stored per element: a float of the dense dtype, or an integer code."""
    if isinstance(enc, DenseEncoding):
        return x.to(_FLOAT_DTYPES[enc.dtype])
    if isinstance(enc, AffineEncoding):
        return _affine_codes(x, enc)
    return _ternary_codes(x, enc)


def _values(elements: torch.Tensor, enc: ValueEncoding) -> torch.Tensor:
    """Float32 values of per-element storage, in the shape of `elements`."""
    if isinstance(enc, DenseEncoding):
        return elements.to(torch.float32)
    if isinstance(enc, AffineEncoding):
        return _affine_values(elements, enc)
    return _ternary_values(elements, enc)


def _code_bits(enc: ValueEncoding) -> int:
    return enc.bits if isinstance(enc, AffineEncoding) else 2


def _code_offset(enc: ValueEncoding) -> int:
    """Added to signed codes so they pack as unsigned."""
    return -affine_range(enc.bits)[0] if isinstance(enc, AffineEncoding) else 1


def _as_bytes(tensor: torch.Tensor) -> np.ndarray:
    """The raw little-endian bytes of a tensor (numpy has no bfloat16, torch can view)."""
    flat = tensor.detach().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy() if flat.numel() else np.zeros(0, np.uint8)


def _from_bytes(raw: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if raw.size == 0:
        return torch.zeros(0, dtype=dtype)
    return torch.from_numpy(np.ascontiguousarray(raw, dtype=np.uint8).copy()).view(dtype)


def _pack_elements(elements: torch.Tensor, enc: ValueEncoding) -> np.ndarray:
    """Flat element storage as bytes: floats of the dense dtype, or packed unsigned codes."""
    flat = elements.reshape(-1)
    if isinstance(enc, DenseEncoding):
        return _as_bytes(flat)
    unsigned = (flat.to(torch.int32) + _code_offset(enc)).numpy().astype(np.uint8)
    return pack_bits(unsigned, _code_bits(enc))


def _element_bytes(enc: ValueEncoding, count: int) -> int:
    return (count * stored_element_bits(enc) + 7) // 8


def _unpack_elements(raw: np.ndarray, enc: ValueEncoding, count: int) -> torch.Tensor:
    expected = _element_bytes(enc, count)
    if raw.size != expected:
        raise ModelshrinkError(f"expected {expected} bytes of elements, found {raw.size}")
    if isinstance(enc, DenseEncoding):
        return _from_bytes(raw, _FLOAT_DTYPES[enc.dtype])
    unsigned = unpack_bits(raw, _code_bits(enc), count)
    return torch.from_numpy(unsigned.astype(np.int16)) - _code_offset(enc)


def _scale_bytes(scale: torch.Tensor, scale_format: str) -> np.ndarray:
    if scale_format == "log8":
        largest, exponents = log8_encode(scale)
        return np.concatenate([_as_bytes(largest), exponents.numpy()])
    return _as_bytes(scale.to(_FLOAT_DTYPES[scale_format]))


def _scale_size(scale_format: str, count: int) -> int:
    return 4 + count if scale_format == "log8" else _SCALE_BYTES[scale_format] * count


def _scale_from_bytes(raw: np.ndarray, scale_format: str) -> torch.Tensor:
    if scale_format == "log8":
        return log8_decode(_from_bytes(raw[:4], torch.float32), torch.from_numpy(raw[4:].copy()))
    return _from_bytes(raw, _FLOAT_DTYPES[scale_format])


def _side_bytes(enc: ValueEncoding) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Scale and zero-point bytes of a value encoding, and the JSON that describes them."""
    if isinstance(enc, DenseEncoding):
        return [], {"kind": "dense", "dtype": enc.dtype}
    chunks = [_scale_bytes(enc.scale, enc.scale_format)]
    if isinstance(enc, TernaryEncoding):
        return chunks, {"kind": "ternary", "axis": enc.axis, "scale": enc.scale_format}
    info = {"kind": "affine", "bits": enc.bits, "axis": enc.axis, "scale": enc.scale_format}
    if bool((enc.zero_point != 0).any()):
        chunks.append(enc.zero_point.to(torch.int8).numpy().view(np.uint8))
        info["zero_point"] = True
    return chunks, info


def _encode(x: torch.Tensor, enc: TensorEncoding) -> tuple[torch.Tensor | np.ndarray, dict]:
    """How one tensor is stored: a tensor of its own (dense) or bytes for the blob, and
    the JSON that describes it (the caller adds the blob range)."""
    shape = list(x.shape)
    if isinstance(enc, DenseEncoding):
        return _elements(x, enc).contiguous(), {"shape": shape, "kind": "dense", "dtype": enc.dtype}
    if isinstance(enc, SparseEncoding):
        inner = enc.values
        elements = _elements(x, inner)
        mask = (_values(elements, inner) != 0).reshape(-1)
        elements = elements.reshape(-1)
        nnz = int(mask.sum())
        chunks, inner_info = _side_bytes(inner)
        if nnz:  # an all-zero tensor needs no mask: its shape says everything
            chunks.append(np.packbits(mask.numpy(), bitorder="little"))
        chunks.append(_pack_elements(elements[mask], inner))
        info = {"kind": "sparse", "shape": shape, "nnz": nnz, "values": inner_info}
        return np.concatenate(chunks), info
    chunks, info = _side_bytes(enc)
    chunks.append(_pack_elements(_elements(x, enc), enc))
    return np.concatenate(chunks), {"shape": shape, **info}


class _Reader:
    """Consumes one tensor's byte range front to back, checking every length."""

    def __init__(self, raw: np.ndarray) -> None:
        self.raw, self.position = raw, 0

    def take(self, count: int) -> np.ndarray:
        if self.position + count > self.raw.size:
            raise ModelshrinkError(f"stored bytes end after {self.raw.size}; expected more")
        piece = self.raw[self.position : self.position + count]
        self.position += count
        return piece

    def rest(self) -> np.ndarray:
        return self.take(self.raw.size - self.position)


def _checked_shape(info: Mapping[str, Any]) -> list[int]:
    shape = info.get("shape")
    if not is_int_list(shape):
        raise ModelshrinkError(
            f"shape {quoted(shape)}: expected a list of at most {MAX_DIMENSIONS} integers >= 0"
        )
    return shape


def _checked_dtype(info: Mapping[str, Any]) -> str:
    dtype = info.get("dtype")
    if type(dtype) is not str or dtype not in _FLOAT_DTYPES:
        raise ModelshrinkError(
            f"dense dtype {quoted(dtype)}: expected one of {sorted(_FLOAT_DTYPES)}"
        )
    return dtype


def _read_value_encoding(info: Any, shape: list[int], reader: _Reader):
    if type(info) is not dict:
        raise ModelshrinkError(f"a value encoding is a {type(info).__name__}, expected an object")
    kind = info.get("kind")
    if kind == "dense":
        return DenseEncoding(_checked_dtype(info))
    if kind not in ("affine", "ternary"):
        raise ModelshrinkError(f"unknown value encoding kind {quoted(kind)}")
    axis = info.get("axis")
    if axis is not None and (type(axis) is not int or not -len(shape) <= axis < len(shape)):
        raise ModelshrinkError(f"axis {quoted(axis)} is not an axis of shape {shape}")
    count = 1 if axis is None else shape[axis]
    scale_format = info.get("scale")
    if scale_format not in (*_SCALE_BYTES, "log8"):
        raise ModelshrinkError(f"unknown scale format {quoted(scale_format)}")
    scale = _scale_from_bytes(reader.take(_scale_size(scale_format, count)), scale_format)
    if kind == "ternary":
        return TernaryEncoding(scale, axis)
    zero_point = torch.zeros(1, dtype=torch.int32)
    if info.get("zero_point"):
        zero_point = torch.from_numpy(reader.take(count).view(np.int8).astype(np.int32))
    return AffineEncoding(info.get("bits"), scale, zero_point, axis, scale_format)


def _decode(info: Mapping[str, Any], raw: np.ndarray) -> tuple[torch.Tensor, TensorEncoding]:
    """A blob tensor from its byte range."""
    shape = _checked_shape(info)
    count = math.prod(shape)
    reader = _Reader(raw)
    if info.get("kind") == "sparse":
        inner = _read_value_encoding(info.get("values"), shape, reader)
        nnz = info.get("nnz")
        if type(nnz) is not int or not 0 <= nnz <= count:
            raise ModelshrinkError(f"nnz {quoted(nnz)}: expected 0..{count} for shape {shape}")
        mask = torch.zeros(count, dtype=torch.bool)
        if nnz:
            bits = np.unpackbits(reader.take((count + 7) // 8), count=count, bitorder="little")
            mask = torch.from_numpy(bits.astype(bool))
        if int(mask.sum()) != nnz:
            raise ModelshrinkError(f"mask has {int(mask.sum())} set bits but header says {nnz}")
        stored = _unpack_elements(reader.rest(), inner, nnz)
        elements = torch.zeros(count, dtype=stored.dtype)
        elements[mask] = stored
        values = _values(elements.reshape(shape), inner)
        return torch.where(mask.reshape(shape), values, torch.zeros(())), SparseEncoding(inner)
    enc = _read_value_encoding(info, shape, reader)
    if isinstance(enc, DenseEncoding):
        raise ModelshrinkError("a dense tensor is stored under its own name, not in the blob")
    stored = _unpack_elements(reader.rest(), enc, count)
    return _values(stored.reshape(shape), enc), enc


def stored_element_bits(encoding: ValueEncoding) -> int:
    """Bits one stored element costs under a value encoding (scales not included)."""
    if isinstance(encoding, DenseEncoding):
        return torch.finfo(_FLOAT_DTYPES[encoding.dtype]).bits
    return _code_bits(encoding)


def compact_encoding(
    tensor: torch.Tensor, encoding: TensorEncoding | None = None
) -> TensorEncoding:
    """`encoding` (default: dense in the tensor's dtype), made sparse when that is smaller.

    Sparse costs one mask bit per element plus the non-zeros, so it wins once a tensor
    is more than 1/bits zero: for fp32 above ~3 % zeros, for int8 above ~12.5 %, and
    always for Taiyaki's all-zero GRU bias.
    """
    encoding = encoding or _default_encoding("tensor", torch.as_tensor(tensor))
    if isinstance(encoding, SparseEncoding):
        return encoding
    numel = tensor.numel()
    nonzero = int(torch.count_nonzero(tensor))
    bits = stored_element_bits(encoding)
    sparse_bits = numel + nonzero * bits
    return SparseEncoding(encoding) if sparse_bits < numel * bits else encoding


# --- files ----------------------------------------------------------------------------


@dataclass
class StoredModel:
    """A loaded model file: tensors decoded to dense float32 in their original shapes.

    `encodings` is the JSON description of how each tensor was stored; `encoding_specs`
    holds the same as typed encodings (with scales), e.g. to rebuild int8 modules.
    """

    architecture: dict
    tensors: dict[str, torch.Tensor]
    metadata: dict
    encodings: dict[str, dict]
    encoding_specs: dict[str, TensorEncoding] = field(default_factory=dict)


def _default_encoding(name: str, tensor: torch.Tensor) -> DenseEncoding:
    if tensor.dtype in _DTYPE_NAMES:
        return DenseEncoding(_DTYPE_NAMES[tensor.dtype])
    if tensor.dtype == torch.float64:
        return DenseEncoding("float32")
    raise ModelshrinkError(
        f"tensor {name!r} has dtype {tensor.dtype}; expected a float tensor "
        f"(float32, float16, bfloat16 or float64)"
    )


def _json_header(value: Any, what: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ModelshrinkError(f"model {what} must be JSON-serialisable: {error}") from error


def save_model(
    path: Path,
    architecture: dict,
    tensors: Mapping[str, torch.Tensor],
    metadata: dict | None = None,
    encodings: Mapping[str, TensorEncoding] | None = None,
) -> None:
    """Write one model file atomically (temporary file in the same folder, then rename).

    Tensors without an entry in `encodings` are stored densely in their own float dtype
    (float64 as float32). An encoding is applied to the tensor given: for affine and
    ternary encodings the values are rounded onto the encoding's grid, so passing an
    already-dequantized tensor stores exactly its codes.
    """
    encodings = dict(encodings or {})
    unknown = sorted(set(encodings) - set(tensors))
    if unknown:
        raise ModelshrinkError(
            f"encodings given for tensors that are not saved: {unknown}; "
            f"expected names among {sorted(tensors)}"
        )
    stored: dict[str, torch.Tensor] = {}
    described: dict[str, dict] = {}
    blob: list[np.ndarray] = []
    blob_size = 0
    for name, tensor in tensors.items():
        if ":" in name:
            raise ModelshrinkError(f"tensor name {name!r} must not contain ':'")
        tensor = torch.as_tensor(tensor).detach().cpu()
        enc = encodings.get(name) or _default_encoding(name, tensor)
        if not isinstance(enc, DenseEncoding):
            tensor = tensor.to(torch.float32)
        try:
            data, info = _encode(tensor, enc)
        except ModelshrinkError as error:
            raise ModelshrinkError(f"tensor {name!r}: {error}") from error
        if isinstance(data, torch.Tensor):
            # clone: safetensors refuses tensors that share memory (views, tied weights)
            stored[name] = data.clone()
        else:
            info["at"] = [blob_size, blob_size + data.size]
            blob.append(data)
            blob_size += data.size
        described[name] = info
    if blob_size:
        stored[BLOB_KEY] = torch.from_numpy(np.concatenate(blob))
    header = {
        "format": FORMAT_VERSION,
        "architecture": _json_header(architecture, "architecture"),
        "encodings": _json_header(described, "encodings"),
        "metadata": _json_header(metadata or {}, "metadata"),
    }
    with atomic_output(path, suffix=".safetensors") as temporary:
        save_file(stored, str(temporary), metadata=header)


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"model file {path} does not exist")
    check_layout(path, f"a modelshrink {FORMAT_VERSION} .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            stored = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelshrinkError(
            f"{path} is not a safetensors model file (expected a modelshrink "
            f"{FORMAT_VERSION} .safetensors file): {error}"
        ) from error
    return header, stored


def _parse_header(path: Path, header: Mapping[str, str]) -> dict[str, Any]:
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        raise ModelshrinkError(
            f"{path} lacks the modelshrink header keys {missing}; expected a file written by "
            f"modelshrink ({FORMAT_VERSION}) with header keys {list(HEADER_KEYS)}"
        )
    if header["format"] not in (FORMAT_VERSION, *DENSE_ONLY_FORMATS):
        raise ModelshrinkError(
            f"{path} has format {quoted(header['format'])}; "
            f"this modelshrink reads {FORMAT_VERSION!r}"
        )
    parsed: dict[str, Any] = {}
    for key in ("architecture", "encodings", "metadata"):
        try:
            parsed[key] = json.loads(header[key])
        except (ValueError, RecursionError) as error:
            raise ModelshrinkError(f"{path}: header key {key!r} is not valid JSON") from error
        if not isinstance(parsed[key], dict):
            raise ModelshrinkError(f"{path}: header key {key!r} must be a JSON object")
    for name, info in parsed["encodings"].items():
        if not isinstance(info, dict):
            raise ModelshrinkError(
                f"{path}: the encoding of tensor {quoted(name)} must be a JSON object"
            )
    old = header["format"] != FORMAT_VERSION
    if old and any(info.get("kind") != "dense" for info in parsed["encodings"].values()):
        raise ModelshrinkError(
            f"{path} has the old format {header['format']!r} with encoded tensors; "
            f"recreate it with this modelshrink ({FORMAT_VERSION!r})"
        )
    return parsed


def _decode_entry(
    info: Mapping[str, Any], name: str, stored: Mapping[str, torch.Tensor], blob: np.ndarray
) -> tuple[torch.Tensor, TensorEncoding]:
    if info.get("kind") == "dense":
        enc = DenseEncoding(_checked_dtype(info))
        if name not in stored:
            raise ModelshrinkError("the dense tensor is not in the file")
        tensor = stored[name]
        shape = _checked_shape(info)
        if _DTYPE_NAMES.get(tensor.dtype) != enc.dtype or list(tensor.shape) != shape:
            raise ModelshrinkError(
                f"dense tensor is {tensor.dtype} {list(tensor.shape)}, header says "
                f"{enc.dtype} {shape}"
            )
        return tensor.to(torch.float32), enc
    at = info.get("at")
    if not is_int_list(at, length=2):
        raise ModelshrinkError(f"byte range {quoted(at)}: expected [start, end]")
    start, end = at
    if not start <= end <= blob.size:
        raise ModelshrinkError(
            f"byte range [{start}, {end}) lies outside the {blob.size}-byte blob"
        )
    return _decode(info, blob[start:end])


def _blob(path: Path, stored: Mapping[str, torch.Tensor]) -> np.ndarray:
    blob = stored.get(BLOB_KEY)
    if blob is None:
        return np.zeros(0, np.uint8)
    if blob.dtype != torch.uint8 or blob.dim() != 1:
        raise ModelshrinkError(
            f"{path}: {BLOB_KEY} is {blob.dtype} {list(blob.shape)}, expected 1-D uint8"
        )
    return blob.numpy()


def load_model(path: Path) -> StoredModel:
    """Read and validate a model file; every tensor comes back as dense float32."""
    header, stored = _read(path)
    parsed = _parse_header(path, header)
    blob = _blob(path, stored)
    tensors: dict[str, torch.Tensor] = {}
    specs: dict[str, TensorEncoding] = {}
    elements = 0
    for name, info in parsed["encodings"].items():
        try:
            elements += math.prod(_checked_shape(info))
            if elements > MAX_ELEMENTS:
                raise ModelshrinkError(
                    f"the tensors decode to over {MAX_ELEMENTS} elements, more than any model "
                    "this reads"
                )
            tensors[name], specs[name] = _decode_entry(info, name, stored, blob)
        except (KeyError, TypeError, ValueError, RuntimeError, ModelshrinkError) as error:
            raise ModelshrinkError(
                f"{path}: tensor {quoted(name)} cannot be decoded from what is stored "
                f"(expected what its 'encodings' entry describes): {error}"
            ) from error
    return StoredModel(
        architecture=parsed["architecture"],
        tensors=tensors,
        metadata=parsed["metadata"],
        encodings=parsed["encodings"],
        encoding_specs=specs,
    )


def _stored_bytes(info: Mapping[str, Any], tensor: torch.Tensor) -> int:
    if "at" in info:
        return int(info["at"][1]) - int(info["at"][0])
    return tensor.numel() * _FLOAT_DTYPES[info["dtype"]].itemsize


def model_size_report(path: Path) -> dict[str, Any]:
    """Honest size accounting of one model file: bytes on disk, per tensor and in total.

    bits_per_parameter divides the whole file (header included) by the parameter
    count, so format overhead is charged to the model rather than hidden.
    """
    path = Path(path)
    model = load_model(path)
    with path.open("rb") as handle:
        header_bytes = 8 + struct.unpack("<Q", handle.read(8))[0]
    file_bytes = path.stat().st_size
    per_tensor: dict[str, dict[str, Any]] = {}
    for name, tensor in model.tensors.items():
        stored_bytes = _stored_bytes(model.encodings[name], tensor)
        per_tensor[name] = {
            "shape": list(tensor.shape),
            "parameters": tensor.numel(),
            "nonzero_parameters": int(torch.count_nonzero(tensor)),
            "stored_bytes": stored_bytes,
            "bits_per_parameter": 8 * stored_bytes / max(tensor.numel(), 1),
            "encoding": model.encodings[name]["kind"],
        }
    parameters = sum(entry["parameters"] for entry in per_tensor.values())
    return {
        "path": str(path),
        "file_bytes": file_bytes,
        "header_bytes": header_bytes,
        "tensor_bytes": sum(entry["stored_bytes"] for entry in per_tensor.values()),
        "parameters": parameters,
        "nonzero_parameters": sum(e["nonzero_parameters"] for e in per_tensor.values()),
        "bits_per_parameter": 8 * file_bytes / max(parameters, 1),
        "tensors": per_tensor,
    }
