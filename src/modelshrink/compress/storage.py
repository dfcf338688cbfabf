"""The one on-disk format for every model and variant: a single .safetensors file.

Why one format: the reported model size is the number of bytes of this file, so every
saving a variant claims (int8 weights, fp16, pruned zeros) must be real bytes saved
here. Zeros stored densely are not savings; a sparse tensor is stored as a packed
bitmask plus its non-zero values, and integers narrower than 8 bits are bit-packed.

Layout. The safetensors `__metadata__` header (str -> str) holds JSON strings:

- ``format``: ``"modelshrink/1"``
- ``architecture``: the network description (owned by the model code, opaque here)
- ``encodings``: per tensor, how it was stored (kind, shape and kind-specific fields)
- ``metadata``: free-form provenance (opaque here)

A densely stored tensor keeps its own name, dtype and shape, so any safetensors
reader sees it as-is. Other encodings store their parts as ``<name>:<part>`` tensors
(``codes``, ``scale``, ``zero_point``, ``mask``, ``values``). Loading never runs code:
safetensors holds only raw arrays, and the JSON is parsed with `json`.
"""

from __future__ import annotations

import json
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
from modelshrink.errors import ModelshrinkError

FORMAT_VERSION = "modelshrink/1"
HEADER_KEYS = ("format", "architecture", "encodings", "metadata")

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


@dataclass(frozen=True, eq=False)
class AffineEncoding:
    """Integers q in [-2^(bits-1), 2^(bits-1)-1]; value = scale * (q - zero_point).

    `axis` None means one scale/zero point for the whole tensor; otherwise one per
    index along `axis` (per channel). The scale is stored in its own dtype (float32 or
    float16): fp16 scales halve the per-channel overhead, which matters for a model
    whose whole int8 payload is only ~285 kB. Codes narrower than 8 bits are packed.
    """

    bits: int
    scale: torch.Tensor | float
    zero_point: torch.Tensor | int = 0
    axis: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ModelshrinkError(f"affine encoding bits {self.bits!r}: expected 2-8")
        scale = _as_vector(self.scale, "scale")
        if not scale.is_floating_point():
            scale = scale.to(torch.float32)
        if scale.dtype not in (torch.float32, torch.float16):
            raise ModelshrinkError(f"affine scale dtype {scale.dtype}: expected float32/16")
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


def _pack_elements(elements: torch.Tensor, enc: ValueEncoding) -> torch.Tensor:
    """Flat element storage: float tensor, int8 codes, or bit-packed uint8."""
    flat = elements.reshape(-1)
    if isinstance(enc, DenseEncoding):
        return flat.contiguous()
    if isinstance(enc, AffineEncoding) and enc.bits == 8:
        return flat.to(torch.int8)
    unsigned = (flat.to(torch.int32) + _code_offset(enc)).numpy().astype(np.uint8)
    return torch.from_numpy(pack_bits(unsigned, _code_bits(enc)))


def _unpack_elements(stored: torch.Tensor, enc: ValueEncoding, count: int) -> torch.Tensor:
    if isinstance(enc, DenseEncoding) or (isinstance(enc, AffineEncoding) and enc.bits == 8):
        if stored.numel() != count:
            raise ModelshrinkError(f"expected {count} stored elements, found {stored.numel()}")
        return stored.reshape(-1).to(torch.int16) if stored.dtype == torch.int8 else stored
    expected = (count * _code_bits(enc) + 7) // 8
    if stored.numel() != expected:
        raise ModelshrinkError(f"expected {expected} packed bytes, found {stored.numel()}")
    unsigned = unpack_bits(stored.numpy(), _code_bits(enc), count)
    return torch.from_numpy(unsigned.astype(np.int16)) - _code_offset(enc)


def _value_side_parts(enc: ValueEncoding) -> dict[str, torch.Tensor]:
    if isinstance(enc, AffineEncoding):
        parts = {"scale": enc.scale.contiguous()}
        if bool((enc.zero_point != 0).any()):
            parts["zero_point"] = enc.zero_point.to(torch.int8)
        return parts
    if isinstance(enc, TernaryEncoding):
        return {"scale": enc.scale.contiguous()}
    return {}


def _value_json(enc: ValueEncoding) -> dict[str, Any]:
    if isinstance(enc, DenseEncoding):
        return {"kind": "dense", "dtype": enc.dtype}
    if isinstance(enc, AffineEncoding):
        return {"kind": "affine", "bits": enc.bits, "axis": enc.axis}
    return {"kind": "ternary", "axis": enc.axis}


def _encode(x: torch.Tensor, enc: TensorEncoding) -> tuple[dict[str, torch.Tensor], dict]:
    """Stored parts (part name -> tensor) and the JSON description of one tensor."""
    shape = list(x.shape)
    if isinstance(enc, SparseEncoding):
        inner = enc.values
        elements = _elements(x, inner)
        mask = _values(elements, inner) != 0
        mask_np = mask.reshape(-1).numpy()
        parts = {
            "mask": torch.from_numpy(np.packbits(mask_np, bitorder="little")),
            "values": _pack_elements(elements.reshape(-1)[mask.reshape(-1)], inner),
            **_value_side_parts(inner),
        }
        info = {"kind": "sparse", "shape": shape, "nnz": int(mask_np.sum())}
        return parts, info | {"values": _value_json(inner)}
    elements = _elements(x, enc)
    if isinstance(enc, DenseEncoding):
        return {"": elements.contiguous()}, {"shape": shape, **_value_json(enc)}
    parts = {"codes": _pack_elements(elements, enc), **_value_side_parts(enc)}
    return parts, {"shape": shape, **_value_json(enc)}


def _value_encoding_from(info: Mapping[str, Any], parts: Mapping[str, torch.Tensor]):
    kind = info.get("kind")
    if kind == "dense":
        return DenseEncoding(str(info.get("dtype")))
    if kind == "affine":
        zero_point = parts.get("zero_point", torch.zeros(1, dtype=torch.int32))
        return AffineEncoding(int(info["bits"]), parts["scale"], zero_point, info.get("axis"))
    if kind == "ternary":
        return TernaryEncoding(parts["scale"], info.get("axis"))
    raise ModelshrinkError(f"unknown value encoding kind {kind!r}")


def _decode(
    info: Mapping[str, Any], parts: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, TensorEncoding]:
    shape = [int(size) for size in info["shape"]]
    count = int(np.prod(shape, dtype=np.int64))
    if info.get("kind") == "sparse":
        inner = _value_encoding_from(info["values"], parts)
        mask_bits = np.unpackbits(parts["mask"].numpy(), count=count, bitorder="little")
        mask = torch.from_numpy(mask_bits.astype(bool))
        nnz = int(mask.sum())
        if nnz != int(info.get("nnz", nnz)):
            raise ModelshrinkError(f"mask has {nnz} set bits but header says {info['nnz']}")
        stored = _unpack_elements(parts["values"], inner, nnz)
        elements = torch.zeros(count, dtype=stored.dtype)
        elements[mask] = stored
        values = _values(elements.reshape(shape), inner)
        return torch.where(mask.reshape(shape), values, torch.zeros(())), SparseEncoding(inner)
    enc = _value_encoding_from(info, parts)
    if isinstance(enc, DenseEncoding):
        tensor = parts[""]
        if _DTYPE_NAMES.get(tensor.dtype) != enc.dtype or list(tensor.shape) != shape:
            raise ModelshrinkError(
                f"dense tensor is {tensor.dtype} {list(tensor.shape)}, header says "
                f"{enc.dtype} {shape}"
            )
        return tensor.to(torch.float32), enc
    stored = _unpack_elements(parts["codes"], enc, count)
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


def _part_key(name: str, part: str) -> str:
    return f"{name}:{part}" if part else name


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
    for name, tensor in tensors.items():
        if ":" in name:
            raise ModelshrinkError(f"tensor name {name!r} must not contain ':'")
        tensor = torch.as_tensor(tensor).detach().cpu()
        enc = encodings.get(name) or _default_encoding(name, tensor)
        if not isinstance(enc, DenseEncoding):
            tensor = tensor.to(torch.float32)
        try:
            parts, info = _encode(tensor, enc)
        except ModelshrinkError as error:
            raise ModelshrinkError(f"tensor {name!r}: {error}") from error
        described[name] = info
        for part, value in parts.items():
            # clone: safetensors refuses tensors that share memory (views, tied weights)
            stored[_part_key(name, part)] = value.contiguous().clone()
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
    if header["format"] != FORMAT_VERSION:
        raise ModelshrinkError(
            f"{path} has format {header['format']!r}; this modelshrink reads {FORMAT_VERSION!r}"
        )
    parsed: dict[str, Any] = {}
    for key in ("architecture", "encodings", "metadata"):
        try:
            parsed[key] = json.loads(header[key])
        except json.JSONDecodeError as error:
            raise ModelshrinkError(f"{path}: header key {key!r} is not valid JSON") from error
        if not isinstance(parsed[key], dict):
            raise ModelshrinkError(f"{path}: header key {key!r} must be a JSON object")
    return parsed


def _parts_of(name: str, stored: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    parts = {
        key.partition(":")[2]: value
        for key, value in stored.items()
        if key.partition(":")[0] == name
    }
    if name in stored:
        parts[""] = stored[name]
    return parts


def load_model(path: Path) -> StoredModel:
    """Read and validate a model file; every tensor comes back as dense float32."""
    header, stored = _read(path)
    parsed = _parse_header(path, header)
    tensors: dict[str, torch.Tensor] = {}
    specs: dict[str, TensorEncoding] = {}
    for name, info in parsed["encodings"].items():
        try:
            tensors[name], specs[name] = _decode(info, _parts_of(name, stored))
        except (KeyError, TypeError, ValueError, RuntimeError, ModelshrinkError) as error:
            raise ModelshrinkError(
                f"{path}: tensor {name!r} cannot be decoded from its stored parts "
                f"(expected the parts its 'encodings' entry {info} describes): {error}"
            ) from error
    return StoredModel(
        architecture=parsed["architecture"],
        tensors=tensors,
        metadata=parsed["metadata"],
        encodings=parsed["encodings"],
        encoding_specs=specs,
    )


def model_size_report(path: Path) -> dict[str, Any]:
    """Honest size accounting of one model file: bytes on disk, per tensor and in total.

    bits_per_parameter divides the whole file (header included) by the parameter
    count, so format overhead is charged to the model rather than hidden.
    """
    path = Path(path)
    model = load_model(path)
    _, stored = _read(path)
    with path.open("rb") as handle:
        header_bytes = 8 + struct.unpack("<Q", handle.read(8))[0]
    file_bytes = path.stat().st_size
    per_tensor: dict[str, dict[str, Any]] = {}
    for name, tensor in model.tensors.items():
        stored_bytes = sum(
            part.numel() * part.element_size() for part in _parts_of(name, stored).values()
        )
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
