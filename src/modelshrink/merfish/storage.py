"""merFISH variants in the toolbox's one on-disk format (`modelshrink.toolbox.storage`).

The file's size is the variant's stored size, so each variant stores what it claims:
- float32 / dynamic int8 (which converts nothing in a conv U-Net): dense float32;
- fp16: dense float16, widened to float32 on load (CPU convolutions run in float32);
- pruned: the toolbox's sparse encoding (bitmask + non-zero values) where it is smaller;
- static int8 / QAT: only what a rebuilt graph cannot know (`save_int8`): per convolution
  the int8 codes (batch norm folded in) with their per-channel scales, the float32 biases,
  the activation (scale, zero point) pairs, and which conv outputs QAT quantizes.

Loading never unpickles anything: `torch.export.load` was rejected because its constants are
`torch.load`ed and it falls back to `weights_only=False` (arbitrary code) when the restricted
unpickler fails. An int8 variant is loaded into the static-PTQ conversion of a freshly built
network (`_rebuild_int8`, a few seconds; QAT's own convert takes tens) whose constants and
activation quantizers are replaced by the stored ones; a rebuilt graph that does not match the
file (another torch / torchao) is reported, not silently tolerated. Files are read as
hostile: the toolbox checks the safetensors layer, and everything the architecture and the
int8 metadata say (types, tile size, activation qparams) is checked before a network is built.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelshrink.errors import ModelshrinkError, quoted
from modelshrink.merfish import quantize
from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.spec import ModelSpec
from modelshrink.toolbox import storage as toolbox

FLOAT_VARIANTS = ("float32", "dynamic_int8", "fp16", "pruned")
INT8_VARIANTS = ("static_int8", "qat_int8")
VARIANTS = (*FLOAT_VARIANTS, *INT8_VARIANTS)
_CONV = "aten.conv2d.default"
_DEQUANTIZE_PER_CHANNEL = "quantized_decomposed.dequantize_per_channel.default"
_QUANTIZE = "quantized_decomposed.quantize_per_tensor.default"
_DEQUANTIZE = "quantized_decomposed.dequantize_per_tensor.default"
#: Largest tile side a file may claim: an int8 variant is rebuilt by running such a tile
#: through the network. 8x the largest tiles configured in this project.
MAX_IMAGE_SIZE = 2048


@dataclasses.dataclass
class StoredMerfishModel:
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


def _set_constant(graph_module: torch.fx.GraphModule, name: str, value: torch.Tensor) -> None:
    owner_name, _, attribute = name.rpartition(".")
    owner = graph_module.get_submodule(owner_name) if owner_name else graph_module
    if isinstance(getattr(owner, attribute), nn.Parameter):
        value = nn.Parameter(value, requires_grad=False)
    setattr(owner, attribute, value)


@dataclasses.dataclass(frozen=True)
class _Convolution:
    """One int8 convolution of a converted PT2E graph: its node and constants' names."""

    node: torch.fx.Node
    weight: str  # int8 codes
    scale: str  # per-output-channel weight scales
    zero_point: str  # per-output-channel weight zero points (0: symmetric)
    bias: str  # float32, batch norm folded in


def _convolutions(graph_module: torch.fx.GraphModule, where: str) -> list[_Convolution]:
    """The convolutions in graph order; every one must read per-channel int8 weights."""
    found = []
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or str(node.target) != _CONV:
            continue
        weight, bias = node.args[1], node.args[2] if len(node.args) > 2 else None
        parts = weight.args[:3] if isinstance(weight, torch.fx.Node) else ()
        if (
            str(getattr(weight, "target", "")) != _DEQUANTIZE_PER_CHANNEL
            or weight.args[3] != 0
            or not all(isinstance(p, torch.fx.Node) and p.op == "get_attr" for p in parts)
            or not (isinstance(bias, torch.fx.Node) and bias.op == "get_attr")
        ):
            raise ModelshrinkError(
                f"{where}: convolution {node.name} does not read per-channel int8 weights and a "
                "bias constant; expected a graph converted by the PT2E x86 flow"
            )
        found.append(_Convolution(node, *(p.target for p in parts), bias.target))
    return found


def _quantizers(graph_module: torch.fx.GraphModule) -> list[torch.fx.Node]:
    """Per-tensor activation quantize nodes in graph order."""
    return [
        node
        for node in graph_module.graph.nodes
        if node.op == "call_function" and str(node.target) == _QUANTIZE
    ]


def _dequantizers(graph_module: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [
        node
        for node in graph_module.graph.nodes
        if node.op == "call_function" and str(node.target) == _DEQUANTIZE
    ]


def save_int8(
    path: Path,
    converted: torch.fx.GraphModule,
    variant: str,
    model_spec: ModelSpec,
    image_size: int,
    info: dict | None = None,
) -> int:
    """Save a converted PT2E graph (static_int8 or qat_int8); returns file bytes.

    Only what the rebuilt graph cannot know is stored: per convolution (graph order) the int8
    codes with their per-channel scales (one affine-encoded tensor, `conv{k}`; zero points
    cost nothing while they are 0), all float32 biases in one tensor, all activation
    (scale, zero point) pairs in one float32 tensor (uint8 zero points and float32 scales are
    exact there), and which convolution outputs are quantized (QAT adds those).
    """
    if variant not in INT8_VARIANTS:
        raise ModelshrinkError(f"variant: {variant!r} is not one of {', '.join(INT8_VARIANTS)}")
    convolutions = _convolutions(converted, "save_int8")
    tensors: dict[str, torch.Tensor] = {}
    encodings: dict[str, Any] = {}
    for index, conv in enumerate(convolutions):
        codes = _constant(converted, conv.weight)
        scale = _constant(converted, conv.scale).float()
        zero_point = _constant(converted, conv.zero_point)
        shape = (-1,) + (1,) * (codes.ndim - 1)
        # dequantized values; the encoding recovers exactly these codes from them
        tensors[f"conv{index}"] = (codes.float() - zero_point.view(shape)) * scale.view(shape)
        encodings[f"conv{index}"] = toolbox.AffineEncoding(8, scale, zero_point, axis=0)
    tensors["biases"] = torch.cat([_constant(converted, c.bias).float() for c in convolutions])
    quantizers = _quantizers(converted)
    ranges = {tuple(node.args[3:]) for node in quantizers}
    qparams = torch.tensor([[n.args[1], n.args[2]] for n in quantizers], dtype=torch.float32)
    as_stored = [(float(s), int(z)) for s, z in qparams.tolist()]
    if len(ranges) != 1 or as_stored != [(n.args[1], n.args[2]) for n in quantizers]:
        raise ModelshrinkError(
            f"{path}: activation quantizers need one uint8 range and float32 scales; "
            f"found ranges {sorted(str(list(r)) for r in ranges)}"
        )
    tensors["activations"] = qparams
    conv_nodes = {conv.node: index for index, conv in enumerate(convolutions)}
    metadata = {
        **(info or {}),
        "int8": {
            "convolutions": len(convolutions),
            "activation_range": [*map(str, next(iter(ranges)))],
            "quantized_conv_outputs": [
                conv_nodes[n.args[0]] for n in quantizers if n.args[0] in conv_nodes
            ],
        },
    }
    toolbox.save_model(
        path, _architecture(variant, model_spec, image_size), tensors, metadata, encodings
    )
    return _size(path)


def _rebuild_int8(spec: ModelSpec, image_size: int) -> torch.fx.GraphModule:
    """The static-PTQ conversion of a fresh network, whose constants get replaced.

    Both int8 variants load into it: a converted QAT graph has the same convolutions, constants
    and activation quantizers in the same order, plus quantizers on conv+bn outputs that the
    file lists and `_load_int8` inserts. Rebuilding through QAT's own convert instead would
    take torchao's conv-bn folding, which exports ~100 pattern graphs (tens of seconds).
    """
    return quantize.quantize_static(AnglerFISH(spec), quantize.example_input(image_size))


def _insert_output_quantizers(
    graph_module: torch.fx.GraphModule, nodes: list[torch.fx.Node], template: torch.fx.Node
) -> None:
    """quantize -> dequantize after each of `nodes` (qparams are filled in afterwards)."""
    dequantize = next(iter(template.users))
    graph = graph_module.graph
    for node in nodes:
        with graph.inserting_after(node):
            quantized = graph.call_function(template.target, (node, 1.0, 0, *template.args[3:]))
        with graph.inserting_after(quantized):
            restored = graph.call_function(dequantize.target, (quantized, *quantized.args[1:]))
        node.replace_all_uses_with(restored, delete_user_cb=lambda user, q=quantized: user is not q)


def _load_int8(
    path: Path, stored: toolbox.StoredModel, spec: ModelSpec, image_size: int
) -> torch.fx.GraphModule:
    described = _int8_description(path, stored)
    graph_module = _rebuild_int8(spec, image_size)
    convolutions = _convolutions(graph_module, str(path))
    quantizers = _quantizers(graph_module)
    ranges = {tuple(map(str, node.args[3:])) for node in quantizers}
    conv_index = {conv.node: index for index, conv in enumerate(convolutions)}
    rebuilt_outputs = {conv_index[n.args[0]] for n in quantizers if n.args[0] in conv_index}
    stored_outputs = set(described["quantized_conv_outputs"])
    outputs = sorted(stored_outputs - rebuilt_outputs)  # the ones QAT adds
    activations = stored.tensors["activations"]
    expected = {f"conv{index}" for index in range(len(convolutions))} | {"biases", "activations"}
    if (
        described.get("convolutions") != len(convolutions)
        or set(stored.tensors) != expected
        or ranges != {tuple(described["activation_range"])}
        or len(activations) != len(quantizers) + len(outputs)
        or not rebuilt_outputs <= stored_outputs
        or not all(0 <= index < len(convolutions) for index in outputs)
    ):
        raise ModelshrinkError(
            f"{path}: the int8 graph rebuilt here has {len(convolutions)} convolutions and "
            f"{len(quantizers)} activation quantizers with range {sorted(ranges)}; the file has "
            f"{described.get('convolutions')}, {len(activations)} ({len(outputs)} on conv "
            f"outputs) and {described.get('activation_range')}; expected the torch/torchao "
            "that wrote it"
        )
    if outputs:
        nodes = [convolutions[index].node for index in outputs]
        _insert_output_quantizers(graph_module, nodes, quantizers[0])
    _set_convolutions(graph_module, convolutions, stored, path)
    _set_activation_qparams(graph_module, activations, path)
    graph_module.graph.lint()
    graph_module.recompile()
    return graph_module


def _int8_description(path: Path, stored: toolbox.StoredModel) -> dict[str, Any]:
    """The file's int8 metadata and activation qparams, checked before any graph is built."""
    described = stored.metadata.get("int8")
    outputs = described.get("quantized_conv_outputs") if isinstance(described, dict) else None
    ranges = described.get("activation_range") if isinstance(described, dict) else None
    if (
        type(outputs) is not list
        or any(type(index) is not int for index in outputs)
        or type(ranges) is not list
        or any(type(bound) is not str for bound in ranges)
    ):
        raise ModelshrinkError(
            f"{path}: metadata 'int8' must hold 'quantized_conv_outputs' (integers) and "
            "'activation_range' (strings)"
        )
    activations = stored.tensors.get("activations")
    if (
        activations is None
        or activations.dim() != 2
        or activations.shape[1] != 2
        or not bool(torch.isfinite(activations).all())
        or not bool((activations[:, 0] > 0).all())
        or not torch.equal(activations[:, 1], activations[:, 1].round())
    ):
        raise ModelshrinkError(
            f"{path}: tensor 'activations' must be [N, 2] rows of (scale > 0, integer zero point)"
        )
    return described


def _set_convolutions(
    graph_module: torch.fx.GraphModule,
    convolutions: list[_Convolution],
    stored: toolbox.StoredModel,
    path: Path,
) -> None:
    """Codes, scales, zero points and biases of every convolution, from the file."""
    sizes = [_constant(graph_module, conv.bias).numel() for conv in convolutions]
    if stored.tensors["biases"].numel() != sum(sizes):
        raise ModelshrinkError(
            f"{path}: {stored.tensors['biases'].numel()} biases stored, the convolutions have "
            f"{sum(sizes)}"
        )
    for index, (conv, bias) in enumerate(
        zip(convolutions, stored.tensors["biases"].split(sizes), strict=True)
    ):
        encoding = stored.encoding_specs[f"conv{index}"]
        values = stored.tensors[f"conv{index}"]
        old_codes = _constant(graph_module, conv.weight)
        if (
            not isinstance(encoding, toolbox.AffineEncoding)
            or (encoding.bits, encoding.axis) != (8, 0)
            or values.shape != old_codes.shape
        ):
            raise ModelshrinkError(
                f"{path}: tensor conv{index} does not fit convolution {conv.node.name}: "
                f"expected 8-bit per-channel codes of shape {list(old_codes.shape)}"
            )
        shape = (-1,) + (1,) * (values.ndim - 1)
        scale = encoding.scale.float()
        zero_point = encoding.zero_point.expand(scale.numel())
        safe_scale = torch.where(scale == 0, torch.ones_like(scale), scale)
        codes = (values / safe_scale.view(shape) + zero_point.view(shape)).round()
        replacements = {
            conv.weight: codes,
            conv.scale: scale,
            conv.zero_point: zero_point,
            conv.bias: bias,
        }
        for name, value in replacements.items():
            old = _constant(graph_module, name)
            _set_constant(graph_module, name, value.to(old.dtype).clone())


def _set_activation_qparams(
    graph_module: torch.fx.GraphModule, activations: torch.Tensor, path: Path
) -> None:
    """Stored (scale, zero point) into each quantize node, and from it into its dequantize."""
    for node, (scale, zero_point) in zip(
        _quantizers(graph_module), activations.tolist(), strict=True
    ):
        node.args = (node.args[0], scale, int(zero_point), *node.args[3:])
    for node in _dequantizers(graph_module):
        source = node.args[0]
        if str(getattr(source, "target", "")) != _QUANTIZE:
            raise ModelshrinkError(f"{path}: the rebuilt graph dequantizes {source} directly")
        node.args = (source, *source.args[1:3], *node.args[3:])


def load_merfish_model(path: Path) -> StoredMerfishModel:
    path = Path(path)
    stored = toolbox.load_model(path)
    architecture = stored.architecture
    variant = architecture.get("variant")
    if architecture.get("family") != "merfish" or variant not in VARIANTS:
        raise ModelshrinkError(
            f"{path}: architecture family {quoted(architecture.get('family'))} variant "
            f"{quoted(variant)}; expected a merfish model ({', '.join(VARIANTS)})"
        )
    model_settings = architecture.get("model")
    if not isinstance(model_settings, dict):
        raise ModelshrinkError(f"{path}: architecture.model must be a mapping of model settings")
    spec = ModelSpec.from_mapping(model_settings, where=f"{path}: architecture.model")
    image_size = architecture.get("image_size")
    if type(image_size) is not int or not 8 <= image_size <= MAX_IMAGE_SIZE or image_size % 4:
        raise ModelshrinkError(
            f"{path}: architecture.image_size {quoted(image_size)}: expected a multiple of 4 "
            f"from 8 to {MAX_IMAGE_SIZE}"
        )
    if variant in INT8_VARIANTS:
        module: nn.Module = _load_int8(path, stored, spec, image_size)
    else:
        model = AnglerFISH(spec)
        try:
            model.load_state_dict(stored.tensors, strict=True)
        except RuntimeError as error:
            raise ModelshrinkError(f"{path}: tensors do not fit the model: {error}") from error
        module = model.eval()
        if variant == "dynamic_int8":
            module = quantize.quantize_dynamic_int8(model).model
    info = {key: value for key, value in stored.metadata.items() if key != "int8"}
    return StoredMerfishModel(variant, module, spec, image_size, info)
