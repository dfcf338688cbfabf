"""Reads Taiyaki checkpoints (legacy `torch.save` of whole modules) without Taiyaki.

The pickle is read by an allow-list unpickler: only the classes a Taiyaki model is
made of are accepted, and they become inert attribute bags, never real objects whose
code could run. Anything else (e.g. `os.system`) is refused before it is called.

Also understood: the attributes the original modelshrink-predecessor scripts pickled
onto layers — pruning masks (`mask_flag`, `masks`, `weight_names`) are applied, and
int8 tensors listed in `q_data` ({name: [scale, zero_point]}) are dequantized as
`scale * (q - zero_point)`. `q_flag`, `run_flag`, `convert_flag` and `quant_flag` carry
no information beyond that and are ignored.

Legacy file layout: pickles of magic number, protocol, system info, the object (with
persistent ids for classes and storages), the storage keys; then each storage as an
int64 element count followed by its raw little-endian bytes.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.taiyaki.layers import ACTIVATIONS, LAYER_TYPES, Reverse
from modelshrink.taiyaki.network import Architecture

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# pickle protocol 2 + LONG1 of the magic number: how every legacy torch.save file starts.
LEGACY_PICKLE_PREFIX = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ShortStorage": np.int16,
    "IntStorage": np.int32,
    "LongStorage": np.int64,
}

TAIYAKI_MODULES = {"Serial"} | {cls.taiyaki_class for cls in LAYER_TYPES.values()}
TORCH_MODULES = {
    ("torch.nn.modules.container", "ModuleList"),
    ("torch.nn.modules.conv", "Conv1d"),
    ("torch.nn.modules.linear", "Linear"),
    ("torch.nn.modules.padding", "ConstantPad1d"),
    ("torch.nn.modules.rnn", "GRU"),
}
ACTIVATION_FUNCTIONS = set(ACTIVATIONS)


class PickledModule:
    """An inert stand-in for a pickled nn.Module: its class name and attribute dict."""

    class_name = "?"

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state

    def attributes(self) -> dict[str, Any]:
        """Plain attributes, parameters and buffers merged, as Taiyaki code saw them."""
        merged = {k: v for k, v in self.state.items() if not k.startswith("_")}
        merged.update(self.state.get("_parameters") or {})
        merged.update(self.state.get("_buffers") or {})
        return merged

    def children(self) -> dict[str, PickledModule]:
        return dict(self.state.get("_modules") or {})


@dataclass(frozen=True)
class ActivationRef:
    name: str


@dataclass(frozen=True)
class StorageType:
    dtype: Any


@dataclass
class PendingStorage:
    key: str
    dtype: Any
    numel: int
    array: np.ndarray | None = None


@dataclass
class PendingTensor:
    storage: PendingStorage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def resolve(self) -> torch.Tensor:
        if self.storage.array is None:
            raise ModelshrinkError(f"storage {self.storage.key} has no data")
        itemsize = self.storage.array.itemsize
        view = np.lib.stride_tricks.as_strided(
            self.storage.array[self.offset :],
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
        )
        return torch.from_numpy(np.array(view))


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> PendingTensor:
    return PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    return data


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BytesIO, source: Path) -> None:
        super().__init__(stream)
        self.source = source
        self.storages: dict[str, PendingStorage] = {}
        self._module_classes: dict[str, type[PickledModule]] = {}

    def _module_class(self, name: str) -> type[PickledModule]:
        if name not in self._module_classes:
            self._module_classes[name] = type(name, (PickledModule,), {"class_name": name})
        return self._module_classes[name]

    def find_class(self, module: str, name: str) -> Any:
        if module == "taiyaki.layers" and name in TAIYAKI_MODULES:
            return self._module_class(name)
        if (module, name) in TORCH_MODULES:
            return self._module_class(name)
        if module == "taiyaki.activation" and name in ACTIVATION_FUNCTIONS:
            return ActivationRef(name)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
            return {"set": set, "frozenset": frozenset}[name]  # newer torch pickles these
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(STORAGE_DTYPES[name])
        raise ModelshrinkError(
            f"{self.source}: refusing to load: the checkpoint references {module}.{name}, "
            "which is not one of the Taiyaki/torch classes a basecaller checkpoint is made of"
        )

    def persistent_load(self, pid: Any) -> Any:
        kind = pid[0] if isinstance(pid, tuple) and pid else None
        if kind == "module":
            return pid[1]
        if kind == "storage":
            storage_type, key, _location, numel, view_metadata = pid[1:6]
            if not isinstance(storage_type, StorageType) or view_metadata is not None:
                raise ModelshrinkError(f"{self.source}: unsupported tensor storage {pid[:2]}")
            if key not in self.storages:
                self.storages[key] = PendingStorage(key, storage_type.dtype, int(numel))
            return self.storages[key]
        raise ModelshrinkError(f"{self.source}: unexpected persistent id in checkpoint: {kind!r}")


def _read_storages(stream: io.BytesIO, storages: dict[str, PendingStorage], source: Path) -> None:
    keys = pickle.Unpickler(stream).load()
    for key in keys:
        header = stream.read(8)
        if len(header) != 8 or key not in storages:
            raise ModelshrinkError(f"{source}: checkpoint is truncated or corrupt (storage {key})")
        (numel,) = struct.unpack("<q", header)
        storage = storages[key]
        nbytes = numel * np.dtype(storage.dtype).itemsize
        payload = stream.read(nbytes)
        if len(payload) != nbytes:
            raise ModelshrinkError(f"{source}: checkpoint is truncated (storage {key})")
        storage.array = np.frombuffer(payload, dtype=storage.dtype).copy()


def _resolve(value: Any) -> Any:
    if isinstance(value, PendingTensor):
        return value.resolve()
    if isinstance(value, PickledModule):
        value.state = _resolve(value.state)
        return value
    if isinstance(value, dict):
        return type(value)((k, _resolve(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v) for v in value)
    return value


def read_legacy_pickle(path: Path) -> PickledModule:
    """The checkpoint's top-level module as inert `PickledModule`s with real tensors."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelshrinkError(f"cannot read checkpoint {path}: {error.strerror}") from error
    stream = io.BytesIO(data)
    try:
        magic = pickle.Unpickler(stream).load()
    except Exception as error:
        raise ModelshrinkError(
            f"{path} is not a Taiyaki checkpoint (expected a legacy torch.save pickle)"
        ) from error
    if magic != LEGACY_MAGIC:
        raise ModelshrinkError(
            f"{path} is not a Taiyaki checkpoint (expected a legacy torch.save pickle; "
            "zip-format torch files and other pickles are not Taiyaki models)"
        )
    try:
        pickle.Unpickler(stream).load()  # protocol version
        pickle.Unpickler(stream).load()  # system info
        unpickler = _AllowListUnpickler(stream, path)
        root = unpickler.load()
        _read_storages(stream, unpickler.storages, path)
    except ModelshrinkError:
        raise
    except Exception as error:
        raise ModelshrinkError(f"{path}: checkpoint is truncated or corrupt ({error})") from error
    if not isinstance(root, PickledModule) or root.class_name != "Serial":
        raise ModelshrinkError(f"{path}: expected a Taiyaki Serial model at the top level")
    return _resolve(root)


def _dequantize(tensor: torch.Tensor, scale_zero: Any) -> torch.Tensor:
    scale, zero_point = (float(torch.as_tensor(v)) for v in scale_zero)
    return scale * (tensor.to(torch.float32) - zero_point)


def _layer_masks(attributes: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Masks as {short parameter name: mask}; the original stored a dict or a list + names."""
    if not attributes.get("mask_flag"):
        return {}
    masks = attributes.get("masks")
    if isinstance(masks, dict):
        return dict(masks)
    return dict(zip(attributes.get("weight_names") or [], masks or [], strict=False))


def _collect_tensors(
    module: PickledModule, prefix: str, tensors: dict[str, torch.Tensor], owner: dict[str, Any]
) -> None:
    """Walks a layer's torch submodules; `owner` holds the Taiyaki layer's quant/mask attributes."""
    q_data = owner.get("q_data") or {}
    masks = _layer_masks(owner)
    for name, value in (module.state.get("_parameters") or {}).items():
        if value is None:
            continue
        tensor = value
        if name in q_data and not tensor.is_floating_point():
            tensor = _dequantize(tensor, q_data[name])
        tensor = tensor.to(torch.float32)
        if name in masks:
            tensor = tensor * masks[name].to(torch.float32)
        tensors[prefix + name] = tensor
    for child_name, child in module.children().items():
        _collect_tensors(child, f"{prefix}{child_name}.", tensors, owner)


def _layer_config(module: PickledModule, prefix: str, tensors: dict[str, torch.Tensor]) -> dict:
    if module.class_name == Reverse.taiyaki_class:
        inner = module.children()["layer"]
        return {
            "type": Reverse.layer_type,
            "layer": _layer_config(inner, prefix + "layer.", tensors),
        }
    for layer_class in LAYER_TYPES.values():
        if layer_class.taiyaki_class == module.class_name:
            attributes = module.attributes()
            attributes = {
                k: v.name if isinstance(v, ActivationRef) else v for k, v in attributes.items()
            }
            config = layer_class.config_from_pickle(attributes)
            for child_name, child in module.children().items():
                _collect_tensors(child, f"{prefix}{child_name}.", tensors, attributes)
            return config
    raise ModelshrinkError(f"unsupported Taiyaki layer {module.class_name} at {prefix.rstrip('.')}")


def load_taiyaki_checkpoint(path: Path) -> tuple[Architecture, dict[str, torch.Tensor]]:
    """Architecture and float32 weights (Taiyaki parameter names) of a Taiyaki checkpoint."""
    root = read_legacy_pickle(path)
    metadata = root.state.get("metadata") or {}
    sublayers = root.children().get("sublayers")
    if sublayers is None:
        raise ModelshrinkError(f"{path}: Serial model without sublayers")
    tensors: dict[str, torch.Tensor] = {}
    layers = []
    try:
        for index, layer in sublayers.children().items():
            layers.append(_layer_config(layer, f"sublayers.{index}.", tensors))
    except KeyError as error:
        raise ModelshrinkError(
            f"{path}: layer attribute {error} missing from checkpoint"
        ) from error
    architecture = Architecture(
        layers=layers,
        standardize=bool(metadata.get("standardize", True)),
        reverse=bool(metadata.get("reverse", False)),
    )
    return architecture, tensors
