"""A safetensors file's framing checked against the file itself, before anything maps it.

The safetensors library validates its own header too; checking it here first means every
hostile or damaged file gets one message naming the file and the first thing wrong, and
no reader (ours or the library's) depends on an unchecked length or offset. Layout: an
unsigned 64-bit little-endian header length N, N bytes of JSON {name: {dtype, shape,
data_offsets: [start, end]}, "__metadata__": {str: str}}, then the data area, with
offsets relative to its start.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from modelshrink.errors import ModelshrinkError, brief, quoted

#: The safetensors library's own limit on the JSON header.
MAX_HEADER_BYTES = 100_000_000
#: More dimensions than any tensor modelshrink stores (at most 4).
MAX_DIMENSIONS = 8
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
}


def is_int_list(value: Any, length: int | None = None, most: int = MAX_DIMENSIONS) -> bool:
    """A JSON list of integers >= 0 (not booleans), of `length` items or at most `most`."""
    return (
        type(value) is list
        and (len(value) == length if length is not None else len(value) <= most)
        and all(type(item) is int and item >= 0 for item in value)
    )


def _entry_problem(entry: Any, data_bytes: int) -> str | None:
    """What is wrong with one tensor entry of the header, or None."""
    if type(entry) is not dict or entry.get("dtype") not in DTYPE_BYTES:
        return f"is not a tensor entry with a dtype among {sorted(DTYPE_BYTES)}"
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not is_int_list(shape):
        return f"has shape {quoted(shape)}, expected at most {MAX_DIMENSIONS} integers >= 0"
    if not is_int_list(offsets, length=2) or not offsets[0] <= offsets[1] <= data_bytes:
        return f"has data_offsets outside the {data_bytes}-byte data area"
    needed = math.prod(shape) * DTYPE_BYTES[entry["dtype"]]
    if offsets[1] - offsets[0] != needed:
        return (
            f"spans {offsets[1] - offsets[0]} bytes, but {entry['dtype']} of shape {shape} "
            f"needs {needed}"
        )
    return None


def _header_problem(path: Path) -> str | None:
    """What is wrong with the framing of the safetensors file at `path`, or None."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return "it is shorter than the 8-byte header length"
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, size - 8):
            return f"its header length {length} exceeds the {size - 8} bytes after it"
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as error:
        return f"its header is not JSON ({brief(error)})"
    if type(header) is not dict:
        return "its header is not a JSON object"
    metadata = header.pop("__metadata__", {})
    if type(metadata) is not dict or any(type(v) is not str for v in metadata.values()):
        return "its __metadata__ is not a mapping of strings to strings"
    for name, entry in header.items():
        problem = _entry_problem(entry, size - 8 - length)
        if problem:
            return f"tensor {quoted(name)} {problem}"
    return None


def check_layout(path: Path, expected: str) -> None:
    """A ModelshrinkError naming `path` and the first thing wrong with its framing."""
    problem = _header_problem(path)
    if problem:
        raise ModelshrinkError(
            f"{path} is not a safetensors model file (expected {expected}): {problem}"
        )


def stored_tensor_names(path: Path) -> list[str]:
    """The tensor names of a modelshrink .safetensors file, from its header alone (no
    torch): the `encodings` metadata's names, else the header's tensor entries."""
    check_layout(Path(path), "a modelshrink .safetensors file")
    with Path(path).open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    metadata = header.pop("__metadata__", {})
    try:
        encodings = json.loads(metadata.get("encodings", "{}"))
    except ValueError as error:
        raise ModelshrinkError(f"{path}: its encodings metadata is not JSON") from error
    return list(encodings) or list(header)
