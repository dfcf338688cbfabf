"""merFISH variants in the toolbox's one on-disk format (`modelshrink.compress.storage`).

The file's size is the variant's stored size, so each variant stores what it claims:
- float32 / dynamic int8 (which converts nothing in a conv U-Net): dense float32;
- fp16: dense float16, widened to float32 on load (CPU convolutions run in float32);
- pruned: the toolbox's sparse encoding (bitmask + non-zero values) where it is smaller;
- static int8 / QAT: the constants the converted PT2E graph reads: each conv weight (batch
  norm already folded in) as per-channel 8-bit affine codes with its float32 scales, float
  biases, and the activation (scale, zero point) pairs in the metadata.

Loading never unpickles anything (unlike `torch.export.load`). An int8 variant is rebuilt by
running the same export -> prepare -> convert pipeline on a freshly built network and then
replacing every constant and activation quantizer with the stored ones; a rebuilt graph that
does not match the file (another torch / torchao) is reported, not silently tolerated.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelshrink.compress import storage as toolbox
from modelshrink.errors import ModelshrinkError
from modelshrink.merfish import quantize
from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.spec import ModelSpec

FLOAT_VARIANTS = ("float32", "dynamic_int8", "fp16", "pruned")
INT8_VARIANTS = ("static_int8", "qat_int8")
VARIANTS = (*FLOAT_VARIANTS, *INT8_VARIANTS)
_DEQUANTIZE_PER_CHANNEL = "quantized_decomposed.dequantize_per_channel.default"
_QUANT_TARGETS = (
    "quantized_decomposed.quantize_per_tensor.default",
    "quantized_decomposed.dequantize_per_tensor.default",
)


@dataclasses.dataclass
class StoredModel:
    """A loaded variant: a runnable module (float or int8 reference graph) and its settings."""

    variant: str
    module: nn.Module
    model_spec: ModelSpec
    image_size: int
    info: dict[str, Any]


def _architecture(variant: str, spec: ModelSpec, image_size: int) -> dict[str, Any]:
    return {
        "family": "merfish",
        "variant": variant,
        "model": dataclasses.asdict(spec),
        "image_size": image_size,
    }


def _size(path: Path) -> int:
    return Path(path).stat().st_size


def save_float(
    path: Path, model: AnglerFISH, variant: str, image_size: int, info: dict | None = None
) -> int:
    """Save a float-graph variant (float32, fp16, dynamic_int8, pruned); returns file bytes."""
    if variant not in FLOAT_VARIANTS:
        raise ModelshrinkError(f"variant: {variant!r} is not one of {', '.join(FLOAT_VARIANTS)}")
    # The toolbox stores floats only; the batch-norm step counters are small integers.
    tensors = {name: tensor.float() for name, tensor in model.state_dict().items()}
    encodings: dict[str, Any] = {}
    if variant == "fp16":
        encodings = {name: toolbox.DenseEncoding("float16") for name in tensors}
    elif variant == "pruned":
        encodings = {name: toolbox.compact_encoding(tensor) for name, tensor in tensors.items()}
    architecture = _architecture(variant, model.spec, image_size)
    toolbox.save_model(path, architecture, tensors, info or {}, encodings)
    return _size(path)


def _constant(graph_module: torch.fx.GraphModule, name: str) -> torch.Tensor:
    return functools.reduce(getattr, name.split("."), graph_module)


def _graph_constants(graph_module: torch.fx.GraphModule) -> dict[str, torch.Tensor]:
    return {
        node.target: _constant(graph_module, node.target)
        for node in graph_module.graph.nodes
        if node.op == "get_attr"
    }


def _quant_nodes(graph_module: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [
        node
        for node in graph_module.graph.nodes
        if node.op == "call_function" and str(node.target) in _QUANT_TARGETS
    ]


def _int8_weight_scales(graph_module: torch.fx.GraphModule) -> dict[str, str]:
    """int8 weight constant -> the constant holding its per-channel scales."""
    return {
        node.args[0].target: node.args[1].target
        for node in graph_module.graph.nodes
        if node.op == "call_function"
        and str(node.target) == _DEQUANTIZE_PER_CHANNEL
        and node.args[0].op == "get_attr"
        and node.args[3] == 0
    }


def save_int8(
    path: Path,
    converted: torch.fx.GraphModule,
    variant: str,
    model_spec: ModelSpec,
    image_size: int,
    info: dict | None = None,
) -> int:
    """Save a converted PT2E graph (static_int8 or qat_int8); returns file bytes."""
    if variant not in INT8_VARIANTS:
        raise ModelshrinkError(f"variant: {variant!r} is not one of {', '.join(INT8_VARIANTS)}")
    constants = _graph_constants(converted)
    scales = _int8_weight_scales(converted)
    tensors: dict[str, torch.Tensor] = {}
    encodings: dict[str, Any] = {}
    for name, tensor in constants.items():
        if name in scales:
            scale = constants[scales[name]].float()
            shape = (-1,) + (1,) * (tensor.ndim - 1)
            tensors[name] = tensor.float() * scale.view(shape)  # codes are recovered exactly
            encodings[name] = toolbox.AffineEncoding(bits=8, scale=scale, axis=0)
        else:
            tensors[name] = tensor.float()
    metadata = {
        **(info or {}),
        "int8_weights": scales,
        "dtypes": {name: str(t.dtype).removeprefix("torch.") for name, t in constants.items()},
        "activation_qparams": [[float(n.args[1]), int(n.args[2])] for n in _quant_nodes(converted)],
    }
    toolbox.save_model(
        path, _architecture(variant, model_spec, image_size), tensors, metadata, encodings
    )
    return _size(path)


def _rebuild_int8(variant: str, spec: ModelSpec, image_size: int) -> torch.fx.GraphModule:
    """The pipeline that wrote the file, on a fresh network; its constants get replaced."""
    model = AnglerFISH(spec)
    if variant == "static_int8":
        return quantize.quantize_static(model, quantize.example_input(image_size))
    prepared = quantize.prepare_qat(model, image_size)
    with torch.no_grad():
        prepared(quantize.example_input(image_size, batch=2))
    return quantize.convert_qat(prepared)


def _load_int8(path: Path, stored: toolbox.StoredModel, variant: str, spec: ModelSpec, size: int):
    graph_module = _rebuild_int8(variant, spec, size)
    metadata = stored.metadata
    nodes = _quant_nodes(graph_module)
    expected = set(_graph_constants(graph_module))
    if expected != set(stored.tensors) or len(nodes) != len(metadata["activation_qparams"]):
        raise ModelshrinkError(
            f"{path}: the int8 graph rebuilt here has {len(expected)} constants and {len(nodes)} "
            f"activation quantizers, the file {len(stored.tensors)} and "
            f"{len(metadata['activation_qparams'])}; expected the torch/torchao that wrote it"
        )
    for name, tensor in stored.tensors.items():
        if name in metadata["int8_weights"]:
            scale = stored.tensors[metadata["int8_weights"][name]]
            tensor = (tensor / scale.view((-1,) + (1,) * (tensor.ndim - 1))).round()
        tensor = tensor.to(getattr(torch, metadata["dtypes"][name]))
        owner_name, _, attribute = name.rpartition(".")
        owner = graph_module.get_submodule(owner_name) if owner_name else graph_module
        if isinstance(getattr(owner, attribute), nn.Parameter):
            tensor = nn.Parameter(tensor, requires_grad=False)
        setattr(owner, attribute, tensor)
    for node, (scale, zero_point) in zip(nodes, metadata["activation_qparams"], strict=True):
        node.args = (node.args[0], scale, zero_point, *node.args[3:])
    graph_module.recompile()
    return graph_module


def load_model(path: Path) -> StoredModel:
    path = Path(path)
    stored = toolbox.load_model(path)
    architecture = stored.architecture
    variant = architecture.get("variant")
    if architecture.get("family") != "merfish" or variant not in VARIANTS:
        raise ModelshrinkError(
            f"{path}: architecture family {architecture.get('family')!r} variant {variant!r}; "
            f"expected a merfish model ({', '.join(VARIANTS)})"
        )
    spec = ModelSpec.from_mapping(architecture["model"], where=f"{path}: architecture.model")
    image_size = int(architecture["image_size"])
    if variant in INT8_VARIANTS:
        module: nn.Module = _load_int8(path, stored, variant, spec, image_size)
    else:
        model = AnglerFISH(spec)
        try:
            model.load_state_dict(stored.tensors, strict=True)
        except RuntimeError as error:
            raise ModelshrinkError(f"{path}: tensors do not fit the model: {error}") from error
        module = model.eval()
        if variant == "dynamic_int8":
            module = quantize.quantize_dynamic_int8(model).model
    info = {
        k: v
        for k, v in stored.metadata.items()
        if k not in ("int8_weights", "dtypes", "activation_qparams")
    }
    return StoredModel(variant, module, spec, image_size, info)
