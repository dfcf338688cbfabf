"""Reads Taiyaki checkpoints (legacy `torch.save` of whole modules) without Taiyaki.

Every pickle in the file goes through `restricted_pickle.load_pickle` (opcodes scanned, then
an allow-list unpickler): the header pickles and the storage-key list may hold plain data
only; the model pickle only the classes a Taiyaki model is made of, which become inert
attribute bags, never real objects whose code could run. Anything else (e.g. `os.system`)
is refused before it is called. Every tensor is rebuilt only after its size, stride and
offset are checked against its storage, and every storage's size against the bytes the
file holds, so a crafted view can neither read outside its storage nor allocate more than
the file's own size.

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
import math
import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from modelshrink.basecaller.layers import ACTIVATIONS, LAYER_TYPES, Reverse
from modelshrink.basecaller.network import Architecture
from modelshrink.basecaller.restricted_pickle import MAX_NESTING, AllowList, load_pickle
from modelshrink.errors import ModelshrinkError, quoted

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
# pickle protocol 2 + LONG1 of the magic number: how every legacy torch.save file starts.
LEGACY_PICKLE_PREFIX = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
#: More dimensions than any Taiyaki tensor has (they have at most 3).
MAX_TENSOR_DIMENSIONS = 8

STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("u1"),  # read as bytes, then `!= 0`: any other byte is not a bool
    "ShortStorage": np.dtype("<i2"),
    "IntStorage": np.dtype("<i4"),
    "LongStorage": np.dtype("<i8"),
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
_ATOMS = (bool, int, float, str, bytes)


class PickledModule:
    """An inert stand-in for a pickled nn.Module: its class name and attribute dict.

    Slots, not a `__dict__`: BUILD goes through `__setstate__` and cannot plant attributes
    that shadow the methods below. BUILD aimed at the class itself also finds
    `__setstate__` first, and fails calling it unbound, so no class attribute can be set.
    """

    __slots__ = ("state",)
    class_name = "?"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def attributes(self) -> dict[str, Any]:
        """Plain attributes, parameters and buffers merged, as Taiyaki code saw them."""
        merged = {k: v for k, v in self.state.items() if not str(k).startswith("_")}
        merged.update(self.parameters())
        merged.update(self._section("_buffers"))
        return merged

    def parameters(self) -> dict[str, Any]:
        return self._section("_parameters")

    def children(self) -> dict[str, PickledModule]:
        """Submodules by name; torch's None entries (an absent submodule) left out."""
        children = {k: v for k, v in self._section("_modules").items() if v is not None}
        for name, child in children.items():
            if not isinstance(child, PickledModule):
                raise ModelshrinkError(
                    f"submodule {quoted(name)} of {self.class_name} is a "
                    f"{type(child).__name__}, expected a module"
                )
        return children

    def _section(self, key: str) -> dict[str, Any]:
        section = self.state.get(key) or {}
        if not isinstance(section, dict):
            raise ModelshrinkError(
                f"{self.class_name}.{key} is a {type(section).__name__}, expected a dict"
            )
        return dict(section)


# What the model pickle may hold besides modules and plain data: tuples, so that BUILD
# (which sets attributes on any object a pickle names) cannot alter them.


class ActivationRef(NamedTuple):
    name: str


class StorageType(NamedTuple):
    name: str


class PendingStorage(NamedTuple):
    key: str
    dtype_name: str
    numel: int


class PendingTensor(NamedTuple):
    """A view into a storage whose bytes come later; checked against it when made."""

    storage: PendingStorage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or len(value) > MAX_TENSOR_DIMENSIONS:
        raise ModelshrinkError(
            f"tensor {what} must be a tuple of at most {MAX_TENSOR_DIMENSIONS} integers"
        )
    for item in value:
        if type(item) is not int or item < 0:
            raise ModelshrinkError(f"tensor {what} holds {quoted(item)}, expected integers >= 0")
    return tuple(value)


def _pending_tensor(storage: Any, offset: Any, size: Any, stride: Any) -> PendingTensor:
    """`torch._utils._rebuild_tensor_v2`, refusing any view that leaves its storage."""
    if not isinstance(storage, PendingStorage):
        raise ModelshrinkError(f"a tensor is built on a {type(storage).__name__}, not a storage")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if type(offset) is not int or offset < 0 or len(size) != len(stride):
        raise ModelshrinkError(
            f"tensor on storage {storage.key}: offset {quoted(offset)}, {len(size)} sizes and "
            f"{len(stride)} strides; expected an offset >= 0 and one stride per size"
        )
    numel = math.prod(size)
    end = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1 if numel else 0
    if numel > storage.numel or max(end, offset) > storage.numel:
        raise ModelshrinkError(
            f"tensor on storage {storage.key} (size {quoted(size)}, stride "
            f"{quoted(stride)}, offset {quoted(offset)}) reaches past the "
            f"storage's {storage.numel} elements"
        )
    return PendingTensor(storage, offset, size, stride)


class _RebuildTensor:
    """What the model pickle gets for torch._utils._rebuild_tensor_v2 (immutable)."""

    __slots__ = ()

    def __call__(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> Any:
        return _pending_tensor(storage, offset, size, stride)


class _RebuildParameter:
    """What the model pickle gets for torch._utils._rebuild_parameter (immutable)."""

    __slots__ = ()

    def __call__(self, data: Any, *_: Any) -> PendingTensor:
        if not isinstance(data, PendingTensor):
            raise ModelshrinkError(f"a parameter wraps a {type(data).__name__}, not a tensor")
        return data


def _module_class(name: str) -> type[PickledModule]:
    return type(name, (PickledModule,), {"class_name": name, "__slots__": ()})


def _model_allow_list() -> AllowList:
    objects: dict[tuple[str, str], Any] = {
        ("taiyaki.layers", name): _module_class(name) for name in TAIYAKI_MODULES
    }
    objects.update({key: _module_class(key[1]) for key in TORCH_MODULES})
    objects.update(
        {("taiyaki.activation", name): ActivationRef(name) for name in ACTIVATION_FUNCTIONS}
    )
    objects[("collections", "OrderedDict")] = collections.OrderedDict
    for builtins in ("builtins", "__builtin__"):  # newer torch pickles sets
        objects.update({(builtins, "set"): set, (builtins, "frozenset"): frozenset})
    objects[("torch._utils", "_rebuild_tensor_v2")] = _RebuildTensor()
    objects[("torch._utils", "_rebuild_parameter")] = _RebuildParameter()
    objects.update({("torch", name): StorageType(name) for name in STORAGE_DTYPES})
    return AllowList(
        objects, "not one of the Taiyaki/torch classes a basecaller checkpoint is made of"
    )


MODEL_ALLOW_LIST = _model_allow_list()


class _DeclaredStorages:
    """The model pickle's persistent ids: module classes pass through, storages are noted."""

    def __init__(self) -> None:
        self.storages: dict[str, PendingStorage] = {}

    def __call__(self, pid: Any) -> Any:
        if type(pid) is not tuple or not pid:
            raise ModelshrinkError(f"a persistent id is a {type(pid).__name__}, expected a tuple")
        module_class = pid[1] if len(pid) >= 2 else None
        is_module = isinstance(module_class, type) and issubclass(module_class, PickledModule)
        if pid[0] == "module" and is_module:
            return module_class  # ("module", class, source file, source code)
        if pid[0] == "storage" and len(pid) == 6:
            return self._storage(*pid[1:])
        raise ModelshrinkError(
            f"unexpected persistent id {quoted(pid[0])}; expected a module or a storage"
        )

    def _storage(
        self, storage_type: Any, key: Any, _location: Any, numel: Any, view: Any
    ) -> PendingStorage:
        if (
            not isinstance(storage_type, StorageType)
            or type(key) is not str
            or type(numel) is not int
            or numel < 0
            or view is not None
        ):
            raise ModelshrinkError(
                f"unsupported tensor storage {quoted(key)}: expected a typed storage with a "
                "text key, an element count >= 0 and no view"
            )
        storage = PendingStorage(key, storage_type.name, numel)
        if self.storages.setdefault(key, storage) != storage:
            raise ModelshrinkError(
                f"storage {quoted(key)} is declared twice with different types or sizes"
            )
        return storage


def _read_storages(
    stream: io.BytesIO, declared: dict[str, PendingStorage], source: Path
) -> dict[str, np.ndarray]:
    """Each declared storage's elements, after checking its size against the bytes left."""
    keys = load_pickle(stream, source, "the storage key list")
    if type(keys) is not list or any(type(key) is not str for key in keys):
        raise ModelshrinkError(f"{source}: the storage key list is not a list of strings")
    if len(set(keys)) != len(keys) or set(keys) != set(declared):
        raise ModelshrinkError(
            f"{source}: the storage key list names {len(keys)} storages, the model pickle "
            f"uses {len(declared)}; expected each used storage exactly once"
        )
    total = len(stream.getbuffer())
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        storage = declared[key]
        header = stream.read(8)
        if len(header) != 8:
            raise ModelshrinkError(f"{source}: checkpoint is truncated (storage {key})")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise ModelshrinkError(
                f"{source}: storage {key} holds {numel} elements, the model pickle says "
                f"{storage.numel}"
            )
        dtype = STORAGE_DTYPES[storage.dtype_name]
        nbytes = numel * dtype.itemsize
        if nbytes > total - stream.tell():
            raise ModelshrinkError(
                f"{source}: checkpoint is truncated (storage {key} needs {nbytes} bytes, "
                f"{total - stream.tell()} remain)"
            )
        array = np.frombuffer(stream.read(nbytes), dtype=dtype)
        arrays[key] = array != 0 if storage.dtype_name == "BoolStorage" else array.copy()
    return arrays


class _Resolver:
    """Turns the unpickled tree into plain data with real tensors, refusing anything else.

    Shared values are resolved once (a pickle can reference one list from a billion
    places), cycles and nesting deeper than MAX_NESTING are refused.
    """

    def __init__(self, source: Path, arrays: dict[str, np.ndarray]) -> None:
        self.source, self.arrays = source, arrays
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()

    def resolve(self, value: Any, depth: int = 0) -> Any:
        if value is None or type(value) in _ATOMS:
            return value
        key = id(value)
        if key in self.done:
            return self.done[key]
        if key in self.active or depth > MAX_NESTING:
            raise ModelshrinkError(
                f"{self.source}: the model pickle refers to itself or nests deeper than "
                f"{MAX_NESTING} levels"
            )
        self.active.add(key)
        result = self._resolve_new(value, depth + 1)
        self.active.discard(key)
        self.done[key] = result
        return result

    def _resolve_new(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is PendingTensor:
            return self._tensor(value)
        if kind is ActivationRef:
            return value
        if isinstance(value, PickledModule):
            state = getattr(value, "state", None)
            if type(state) not in (dict, collections.OrderedDict):
                raise ModelshrinkError(
                    f"{self.source}: a {value.class_name} module has no attribute dict"
                )
            value.state = self.resolve(state, depth)
            return value
        if kind in (dict, collections.OrderedDict):
            if any(type(k) not in _ATOMS for k in value):
                raise ModelshrinkError(f"{self.source}: a dict key is not a string or number")
            return kind((k, self.resolve(v, depth)) for k, v in value.items())
        if kind in (list, tuple):
            return kind(self.resolve(item, depth) for item in value)
        if kind in (set, frozenset) and all(type(item) in _ATOMS for item in value):
            return value
        raise ModelshrinkError(
            f"{self.source}: the model pickle holds a {kind.__name__} where plain data, "
            "modules or tensors are expected"
        )

    def _tensor(self, pending: PendingTensor) -> torch.Tensor:
        array = self.arrays[pending.storage.key]
        view = np.lib.stride_tricks.as_strided(
            array[pending.offset :],
            shape=pending.size,
            strides=tuple(step * array.itemsize for step in pending.stride),
        )
        return torch.from_numpy(np.array(view))


def read_legacy_pickle(path: Path) -> PickledModule:
    """The checkpoint's top-level module as inert `PickledModule`s with real tensors."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelshrinkError(f"cannot read checkpoint {path}: {error.strerror}") from error
    stream = io.BytesIO(data)
    try:
        magic = load_pickle(stream, path, "the magic number")
    except ModelshrinkError as error:
        raise ModelshrinkError(
            f"{path} is not a Taiyaki checkpoint (expected a legacy torch.save pickle): {error}"
        ) from error
    if type(magic) is not int or magic != LEGACY_MAGIC:
        raise ModelshrinkError(
            f"{path} is not a Taiyaki checkpoint (expected a legacy torch.save pickle; "
            "zip-format torch files and other pickles are not Taiyaki models)"
        )
    protocol = load_pickle(stream, path, "the protocol version")
    if type(protocol) is not int or protocol != LEGACY_PROTOCOL_VERSION:
        raise ModelshrinkError(
            f"{path}: legacy torch protocol version {quoted(protocol)}, expected "
            f"{LEGACY_PROTOCOL_VERSION}"
        )
    system = load_pickle(stream, path, "the system info")
    if type(system) is not dict or system.get("little_endian") is not True:
        raise ModelshrinkError(
            f"{path}: the system info is not a dict saying little_endian: True "
            "(only little-endian checkpoints are read)"
        )
    declared = _DeclaredStorages()
    root = load_pickle(stream, path, "the model pickle", MODEL_ALLOW_LIST, declared)
    arrays = _read_storages(stream, declared.storages, path)
    if not isinstance(root, PickledModule) or root.class_name != "Serial":
        raise ModelshrinkError(f"{path}: expected a Taiyaki Serial model at the top level")
    return _Resolver(path, arrays).resolve(root)


def _scalar(value: Any, what: str) -> float:
    """A number the original scripts stored as a Python number or a one-element tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if type(value) in (int, float):
        return float(value)
    raise ModelshrinkError(f"{what} is a {type(value).__name__}, expected a number")


def _dequantize(tensor: torch.Tensor, scale_zero: Any, what: str) -> torch.Tensor:
    if type(scale_zero) not in (list, tuple) or len(scale_zero) != 2:
        raise ModelshrinkError(f"q_data of {what} must be [scale, zero_point]")
    scale = _scalar(scale_zero[0], f"the q_data scale of {what}")
    zero_point = _scalar(scale_zero[1], f"the q_data zero point of {what}")
    return scale * (tensor.to(torch.float32) - zero_point)


def _layer_masks(attributes: dict[str, Any]) -> dict[str, Any]:
    """Masks as {short parameter name: mask}; the original stored a dict or a list + names."""
    if not attributes.get("mask_flag"):
        return {}
    masks = attributes.get("masks")
    if isinstance(masks, dict):
        return dict(masks)
    names = attributes.get("weight_names") or []
    if type(masks) not in (list, tuple, type(None)) or type(names) not in (list, tuple):
        raise ModelshrinkError("masks and weight_names must be lists (or masks a dict)")
    return dict(zip(names, masks or [], strict=False))


def _collect_tensors(
    module: PickledModule, prefix: str, tensors: dict[str, torch.Tensor], owner: dict[str, Any]
) -> None:
    """Walks a layer's torch submodules; `owner` holds the Taiyaki layer's quant/mask attributes."""
    q_data = owner.get("q_data") or {}
    if not isinstance(q_data, dict):
        raise ModelshrinkError(f"q_data of {prefix.rstrip('.')} must be a dict")
    masks = _layer_masks(owner)
    for name, value in module.parameters().items():
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise ModelshrinkError(f"parameter {prefix}{name} is a {type(value).__name__}")
        tensor = value
        if name in q_data and not tensor.is_floating_point():
            tensor = _dequantize(tensor, q_data[name], prefix + name)
        tensor = tensor.to(torch.float32)
        if name in masks:
            mask = masks[name]
            if not isinstance(mask, torch.Tensor) or mask.shape != tensor.shape:
                raise ModelshrinkError(
                    f"the mask of {prefix}{name} is not a tensor of its shape {list(tensor.shape)}"
                )
            tensor = tensor * mask.to(torch.float32)
        tensors[prefix + name] = tensor
    for child_name, child in module.children().items():
        _collect_tensors(child, f"{prefix}{child_name}.", tensors, owner)


def _layer_config(module: PickledModule, prefix: str, tensors: dict[str, torch.Tensor]) -> dict:
    if module.class_name == Reverse.taiyaki_class:
        inner = module.children().get("layer")
        if inner is None:
            raise ModelshrinkError(f"Reverse layer {prefix.rstrip('.')} wraps no layer")
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
            try:
                config = layer_class.config_from_pickle(attributes)
            except (RuntimeError, ValueError) as error:  # e.g. a tensor where a number belongs
                raise ModelshrinkError(
                    f"layer {prefix.rstrip('.')} has an unreadable setting: {error}"
                ) from error
            for child_name, child in module.children().items():
                _collect_tensors(child, f"{prefix}{child_name}.", tensors, attributes)
            return config
    raise ModelshrinkError(f"unsupported Taiyaki layer {module.class_name} at {prefix.rstrip('.')}")


def _flag(metadata: dict[str, Any], key: str, default: bool) -> bool:
    value = metadata.get(key, default)
    if type(value) is not bool:
        raise ModelshrinkError(f"metadata {key} is a {type(value).__name__}, expected a bool")
    return value


def _interpret(root: PickledModule) -> tuple[Architecture, dict[str, torch.Tensor]]:
    metadata = root.state.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelshrinkError("the Serial model's metadata is not a dict")
    sublayers = root.children().get("sublayers")
    if sublayers is None:
        raise ModelshrinkError("Serial model without sublayers")
    tensors: dict[str, torch.Tensor] = {}
    layers = [
        _layer_config(layer, f"sublayers.{index}.", tensors)
        for index, layer in sublayers.children().items()
    ]
    architecture = Architecture(
        layers=layers,
        standardize=_flag(metadata, "standardize", True),
        reverse=_flag(metadata, "reverse", False),
    )
    return architecture, tensors


def load_taiyaki_checkpoint(path: Path) -> tuple[Architecture, dict[str, torch.Tensor]]:
    """Architecture and float32 weights (Taiyaki parameter names) of a Taiyaki checkpoint."""
    root = read_legacy_pickle(path)
    try:
        return _interpret(root)
    except ModelshrinkError as error:
        raise ModelshrinkError(f"{path}: {error}") from error
