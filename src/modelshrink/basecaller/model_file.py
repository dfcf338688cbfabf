"""Opening a basecaller model from either a Taiyaki checkpoint or a modelshrink file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelshrink.basecaller.checkpoint import LEGACY_PICKLE_PREFIX, load_taiyaki_checkpoint
from modelshrink.basecaller.compress.dynamic_int8 import (
    gru_weight_bits,
    is_dynamic_int8,
    quantize_dynamic_int8,
)
from modelshrink.basecaller.compress.int8_gru import Int8GRU
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.network import Architecture, FlipFlopNetwork, build_network
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.storage import load_model, save_model


def is_taiyaki_checkpoint(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(LEGACY_PICKLE_PREFIX)) == LEGACY_PICKLE_PREFIX


def load_basecaller(path: Path, int8_execution: bool = True) -> FlipFlopNetwork:
    """A ready-to-run network from a Taiyaki checkpoint or any modelshrink variant file.

    Every stored encoding (fp16, int codes, ternary, sparse) decodes to float32 weights;
    a file saved for dynamic int8 execution comes back with its GRUs and output layer
    as PyTorch int8 modules, running the stored int8 codes (with `int8_execution` False:
    as float32 modules holding the decoded codes, e.g. for ONNX export).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"model file {path} does not exist")
    if is_taiyaki_checkpoint(path):
        architecture, tensors = load_taiyaki_checkpoint(path)
        return build_network(architecture, tensors, str(path))
    stored = load_model(path)
    architecture = Architecture.from_dict(stored.architecture, str(path))
    network = build_network(architecture, stored.tensors, str(path))
    if int8_execution and is_dynamic_int8(stored):
        return quantize_dynamic_int8(network, gru_weight_bits(stored))
    return network


def _encoding_name(info: Mapping[str, Any]) -> str:
    """A stored tensor's encoding in a few characters: float16, int8, ternary, sparse-int8."""
    kind = info.get("kind")
    if kind == "dense":
        return str(info.get("dtype"))
    if kind == "affine":
        return f"int{info.get('bits')}"
    if kind == "sparse":
        return f"sparse-{_encoding_name(info.get('values', {}))}"
    return str(kind)


def stored_as(path: Path) -> str:
    """The distinct tensor encodings of a model file, e.g. "float32+int8+sparse-int7", or
    "taiyaki_checkpoint". Beside `execution_path` it tells a file that is only stored
    compactly (float16, int codes: decoded to float32 on load, runs float32 kernels, so
    smaller but not faster) from one whose kernels are int8."""
    path = Path(path)
    if is_taiyaki_checkpoint(path):
        return "taiyaki_checkpoint"
    stored = load_model(path)
    return "+".join(sorted({_encoding_name(info) for info in stored.encodings.values()}))


def execution_path(network: nn.Module, device: str) -> str:
    """The kernels that run the network's GRUs on `device`, named for speed reports:
    `int8-<kernel>` (the int8 kernel chosen for this CPU, compress/int8_path.py: avx2,
    int_mm or torchscript; the output layer then runs PyTorch's dynamic int8 Linear),
    `float32-fused` (the compiled float GRU kernel), `float32-torchscript` (no compiler)
    or `float32-<device>`; a network run elsewhere names its own (`onnx-float32`,
    onnx_basecall.py)."""
    named = getattr(network, "execution_path", None)
    if isinstance(named, str):
        return named
    int8_grus = [module for module in network.modules() if isinstance(module, Int8GRU)]
    if int8_grus:
        return f"int8-{int8_grus[0].execution_path(torch.device(device))}"
    if device != "cpu":
        return f"float32-{device}"
    return "float32-fused" if compiled_kernels() is not None else "float32-torchscript"


def convert_checkpoint(checkpoint: Path, output: Path) -> dict:
    """Writes a Taiyaki checkpoint as safetensors + JSON architecture; returns a summary."""
    architecture, tensors = load_taiyaki_checkpoint(checkpoint)
    build_network(architecture, tensors, str(checkpoint))  # checks names and shapes first
    save_model(
        output,
        architecture.to_dict(),
        tensors,
        metadata={"source": checkpoint.name, "variant": "original"},
    )
    return {
        "source": str(checkpoint),
        "output": str(output),
        "parameters": sum(t.numel() for t in tensors.values()),
        "bytes": output.stat().st_size,
        "layers": [layer["type"] for layer in architecture.layers],
    }
