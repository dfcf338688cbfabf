"""Real int8 execution of the GRUs and the output layer.

The output layer runs as PyTorch dynamic int8 (`torch.ao.quantization.quantize_dynamic`,
called only here; deprecated but present in torch 2.13). The GRUs run as `Int8GRU`,
our int8 GEMM kernel: PyTorch's own dynamic int8 GRU (ENVIRONMENT.md: the only int8 GRU
in torch 2.13) was only ~1.25x faster than float32 on Taiyaki's small GRUs (int8_gru.py
says why). Quantized modules cannot be saved with safetensors, and the original authors
never managed to save theirs, so we store what they compute instead: the GRU and linear
weights as per-channel symmetric int8 (`PerChannelConfig(8)`, our ordinary format),
everything else float32. On load the float network is rebuilt from the decoded weights
and quantized again with scales max|w_c| / 127 (codes in [-127, 127]), which are the
stored scales, so the int8 codes that run are the stored ones.

The GRU weights may be stored with fewer bits (`gru_bits`, e.g. 7: codes in [-63, 63],
scale max|w_c| / 63): the int8 kernels run those codes unchanged, and a pruned model
stored sparse pays 7 instead of 8 bits per surviving weight. The bits are read back
from the stored encodings, so nothing else records them.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelshrink.basecaller.compress.int8_gru import Int8GRU
from modelshrink.basecaller.compress.layout import network_layout
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.quantize import PerChannelConfig, quantize_per_channel
from modelshrink.toolbox.storage import (
    AffineEncoding,
    SparseEncoding,
    StoredModel,
    TensorEncoding,
    compact_encoding,
    load_model,
    save_model,
)

#: How the weights that run in int8 are stored; matches the observer below.
STORED_CONFIG = PerChannelConfig(bits=8, axis=0, scale_dtype="float16")
#: metadata["execution"] of a file whose GRUs/linear layer run as dynamic int8.
EXECUTION = "dynamic_int8"

ModelBuilder = Callable[[dict[str, Any], dict[str, torch.Tensor]], nn.Module]


def _qconfig() -> Any:
    """Per-channel symmetric int8 weights with the restricted range [-127, 127], so the
    observer's scale is max|w_c| / 127 - the scale `quantize_per_channel` stores."""
    from torch.ao.quantization import PerChannelMinMaxObserver, PlaceholderObserver, QConfig

    return QConfig(
        activation=PlaceholderObserver.with_args(dtype=torch.quint8, is_dynamic=True),
        weight=PerChannelMinMaxObserver.with_args(
            dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-127, quant_max=127
        ),
    )


def stored_config(gru_bits: int = 8) -> PerChannelConfig:
    """How GRU weights with `gru_bits`-bit codes are stored (the linear layer: STORED_CONFIG)."""
    return PerChannelConfig(bits=gru_bits, axis=0, scale_dtype="float16")


def quantize_dynamic_int8(module: nn.Module, gru_bits: int = 8) -> nn.Module:
    """A copy of `module` whose nn.GRU layers run as `Int8GRU` (weight codes of `gru_bits`)
    and whose nn.Linear layers run as PyTorch dynamic int8 (dynamic activations,
    per-channel weights); convolutions stay float (dynamic quantization does not cover
    them)."""
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as error:  # the API is deprecated; say so plainly if it goes
        raise ModelshrinkError(
            f"this torch ({torch.__version__}) has no torch.ao.quantization.quantize_dynamic; "
            f"dynamic int8 execution needs torch <= 2.15"
        ) from error
    if not hasattr(torch, "_int_mm"):
        raise ModelshrinkError(
            f"this torch ({torch.__version__}) has no torch._int_mm (int8 GEMM); "
            "int8 GRU execution needs it"
        )
    converted = copy.deepcopy(module)
    for parent in list(converted.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.GRU:
                setattr(parent, name, Int8GRU(child, gru_bits))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_")
        return quantize_dynamic(converted, {nn.Linear: _qconfig()}, dtype=torch.qint8, inplace=True)


def int8_weight_names(architecture: Mapping[str, Any]) -> list[str]:
    """The weights that dynamic int8 runs in int8: every GRU matrix and the linear layer."""
    return [
        name
        for layer in network_layout(architecture)
        if layer.kind in ("gru", "linear")
        for name in layer.weights
    ]


def _gru_weight_names(architecture: Mapping[str, Any]) -> list[str]:
    return [
        name
        for layer in network_layout(architecture)
        if layer.kind == "gru"
        for name in layer.weights
    ]


def dynamic_int8_tensors(
    architecture: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], gru_bits: int = 8
) -> tuple[dict[str, torch.Tensor], dict[str, TensorEncoding]]:
    """Weights as the int8 modules will see them, and the encodings that store them."""
    result = {name: tensor.detach().to(torch.float32) for name, tensor in tensors.items()}
    encodings: dict[str, TensorEncoding] = {}
    gru_weights = set(_gru_weight_names(architecture))
    for name in int8_weight_names(architecture):
        config = stored_config(gru_bits) if name in gru_weights else STORED_CONFIG
        result[name], encodings[name] = quantize_per_channel(result[name], config)
    compact = {name: compact_encoding(t, encodings.get(name)) for name, t in result.items()}
    return result, compact


def save_dynamic_int8(
    path: Path,
    architecture: dict[str, Any],
    tensors: Mapping[str, torch.Tensor],
    metadata: dict[str, Any] | None = None,
    gru_bits: int = 8,
) -> None:
    """Store a model for int8 execution; `metadata["execution"]` marks it as such."""
    quantized, encodings = dynamic_int8_tensors(architecture, tensors, gru_bits)
    save_model(
        path, architecture, quantized, {**(metadata or {}), "execution": EXECUTION}, encodings
    )


def is_dynamic_int8(stored: StoredModel) -> bool:
    return stored.metadata.get("execution") == EXECUTION


def gru_weight_bits(stored: StoredModel) -> int:
    """The code width of a dynamic int8 file's GRU weights, from their stored encodings."""
    widths = set()
    for name in _gru_weight_names(stored.architecture):
        spec = stored.encoding_specs.get(name)
        spec = spec.values if isinstance(spec, SparseEncoding) else spec
        if not isinstance(spec, AffineEncoding):
            raise ModelshrinkError(
                f"GRU weight {name!r} of a dynamic int8 file is stored as "
                f"{type(spec).__name__}; expected int codes (affine)"
            )
        widths.add(spec.bits)
    if len(widths) > 1:
        raise ModelshrinkError(f"GRU weights of a dynamic int8 file mix code widths {widths}")
    return widths.pop() if widths else 8


def load_dynamic_int8(path: Path, build: ModelBuilder | None = None) -> nn.Module:
    """Rebuild the float network from a stored file and convert it to int8 execution.

    `build(architecture, tensors)` makes the float module; by default the Taiyaki
    network builder.
    """
    stored = load_model(path)
    if not is_dynamic_int8(stored):
        raise ModelshrinkError(
            f"{path} was not saved for dynamic int8 execution (metadata 'execution' is "
            f"{stored.metadata.get('execution')!r}, expected {EXECUTION!r})"
        )
    if build is None:
        from modelshrink.basecaller.network import Architecture, build_network

        def build(architecture: dict[str, Any], tensors: dict[str, torch.Tensor]) -> nn.Module:
            layout = Architecture.from_dict(architecture, str(path))
            return build_network(layout, tensors, str(path))

    module = build(stored.architecture, stored.tensors)
    return quantize_dynamic_int8(module.eval(), gru_weight_bits(stored))
