"""Opening a basecaller model from either a Taiyaki checkpoint or a modelshrink file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from modelshrink.compress.dynamic_int8 import is_dynamic_int8, quantize_dynamic_int8
from modelshrink.compress.int8_gru import Int8GRU
from modelshrink.compress.storage import load_model, save_model
from modelshrink.errors import ModelshrinkError
from modelshrink.taiyaki.checkpoint import LEGACY_PICKLE_PREFIX, load_taiyaki_checkpoint
from modelshrink.taiyaki.gru_extension import compiled_kernels
from modelshrink.taiyaki.network import Architecture, FlipFlopNetwork, build_network


def is_taiyaki_checkpoint(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(LEGACY_PICKLE_PREFIX)) == LEGACY_PICKLE_PREFIX


def load_basecaller(path: Path) -> FlipFlopNetwork:
    """A ready-to-run network from a Taiyaki checkpoint or any modelshrink variant file.

    Every stored encoding (fp16, int codes, ternary, sparse) decodes to float32 weights;
    a file saved for dynamic int8 execution comes back with its GRUs and output layer
    as PyTorch int8 modules, running the stored int8 codes.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"model file {path} does not exist")
    if is_taiyaki_checkpoint(path):
        architecture, tensors = load_taiyaki_checkpoint(path)
        return build_network(architecture, tensors)
    stored = load_model(path)
    network = build_network(Architecture.from_dict(stored.architecture, str(path)), stored.tensors)
    if is_dynamic_int8(stored):
        return quantize_dynamic_int8(network)
    return network


def execution_path(network: nn.Module, device: str) -> str:
    """How the network's GRUs run on `device`, for speed reports: `int8-<kernel>` (the
    int8 kernel chosen for this CPU, compress/int8_path.py), `float32-fused` (the
    compiled GRU kernel), `float32-torchscript` (no compiler) or `float32-<device>`."""
    int8_grus = [module for module in network.modules() if isinstance(module, Int8GRU)]
    if int8_grus:
        return f"int8-{int8_grus[0].execution_path(torch.device(device))}"
    if device != "cpu":
        return f"float32-{device}"
    return "float32-fused" if compiled_kernels() is not None else "float32-torchscript"


def convert_checkpoint(checkpoint: Path, output: Path) -> dict:
    """Writes a Taiyaki checkpoint as safetensors + JSON architecture; returns a summary."""
    architecture, tensors = load_taiyaki_checkpoint(checkpoint)
    build_network(architecture, tensors)  # validates names and shapes before writing
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
