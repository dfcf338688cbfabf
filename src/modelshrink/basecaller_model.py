"""Opening a basecaller model from either a Taiyaki checkpoint or a modelshrink file."""

from __future__ import annotations

from pathlib import Path

from modelshrink.compress.dynamic_int8 import is_dynamic_int8, quantize_dynamic_int8
from modelshrink.compress.storage import load_model, save_model
from modelshrink.errors import ModelshrinkError
from modelshrink.taiyaki.checkpoint import LEGACY_PICKLE_PREFIX, load_taiyaki_checkpoint
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
        return build_network(architecture, tensors, str(path))
    stored = load_model(path)
    architecture = Architecture.from_dict(stored.architecture, str(path))
    network = build_network(architecture, stored.tensors, str(path))
    if is_dynamic_int8(stored):
        return quantize_dynamic_int8(network)
    return network


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
