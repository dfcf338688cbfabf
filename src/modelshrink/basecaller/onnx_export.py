"""A basecaller variant as an ONNX graph, for onnxruntime or any other ONNX runtime.

Every variant exports as the float32 network it decodes to (pruned zeros stay zeros,
fp16 and 8-bit codes become their float32 values, a dynamic int8 file its decoded int8
weights), so the float32 graph computes what `modelshrink basecall` computes. The int8
graph is onnxruntime's dynamic quantization of that float32 graph (`quantize_dynamic`):
int8 weights per output channel, activations quantized per call. onnxruntime has no int8
GRU (its dynamic quantizer covers MatMul, Conv, LSTM, ...), so there the convolution and
the output layer run in int8 and the GRUs, most of the work, stay float32.

The graph comes from the TorchScript-based exporter (`dynamo=False`, deprecated but
present in torch 2.13): it turns each nn.GRU into one ONNX GRU node, which onnxruntime
runs in one kernel, with time and batch left dynamic, and needs no package beyond onnx.
The default dynamo exporter needs onnxscript and was not tried. Taiyaki's
Reverse layers become a time flip on each side of a forward GRU, exactly as Taiyaki runs
them. Alphabet and stride travel in the model's metadata, so a .onnx file basecalls on
its own.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelshrink.atomic import atomic_output
from modelshrink.basecaller.layers import GruMod, Reverse
from modelshrink.basecaller.model_file import is_taiyaki_checkpoint, load_basecaller
from modelshrink.basecaller.network import ARCHITECTURE_FAMILY, FlipFlopNetwork
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.storage import load_model

#: ONNX operator set of the graph (GRU, Pad, Slice with negative steps, Conv, MatMul).
OPSET = 17
FLOAT32 = "float32"
INT8 = "int8"
PRECISIONS = (FLOAT32, INT8)
INPUT_NAME = "signal"
OUTPUT_NAME = "scores"


class _TraceableNetwork(nn.Module):
    """The flip-flop network with every GRU run as the plain nn.GRU module, which the
    exporter knows; inference normally takes the fused kernel, which it does not."""

    def __init__(self, network: FlipFlopNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        x = signal
        for layer in self.network.sublayers:
            x = _run_layer(layer, x)
        return x


def _run_layer(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, Reverse):
        return _run_layer(layer.layer, x.flip(0)).flip(0)
    if isinstance(layer, GruMod):
        return layer.cudnn_gru(x)[0]
    return layer(x)


def load_float_basecaller(path: Path) -> FlipFlopNetwork:
    """The float32 network of a Taiyaki checkpoint or basecaller variant file; a clear
    error for a missing file or another family's model (e.g. a merFISH U-Net)."""
    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"model file {path} does not exist")
    if not is_taiyaki_checkpoint(path):
        family = load_model(path).architecture.get("family")
        if family != ARCHITECTURE_FAMILY:
            raise ModelshrinkError(
                f"{path}: ONNX export covers basecaller models (family "
                f"{ARCHITECTURE_FAMILY!r}); this file holds a {family!r} model"
            )
    return load_basecaller(path, int8_execution=False)


def _float_graph(network: FlipFlopNetwork) -> Any:
    """The exported float32 ModelProto, time and batch axes dynamic."""
    import onnx

    buffer = io.BytesIO()
    example = torch.zeros(4 * network.stride * 8, 2, 1)
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns that nn.GRU's shape checks become constants, and the exporter
        # that a GRU's output may depend on the batch size; neither holds for these GRUs
        # (the test exports and runs other lengths and batch sizes)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        # the legacy exporter and its internals announce their deprecation (see above)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            _TraceableNetwork(network).eval(),
            (example,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: "samples", 1: "batch"},
                OUTPUT_NAME: {0: "steps", 1: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def _set_metadata(graph: Any, values: dict[str, str]) -> None:
    del graph.metadata_props[:]
    for key, value in values.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value


def export_onnx(model: Path, output: Path, precision: str = FLOAT32) -> dict[str, Any]:
    """Writes `model` as an ONNX graph of `precision` (float32 or int8) to `output`
    atomically; returns a summary (sizes, node types)."""
    import onnx

    if precision not in PRECISIONS:
        raise ModelshrinkError(f"ONNX precision {precision!r}: expected one of {PRECISIONS}")
    network = load_float_basecaller(model)
    graph = _float_graph(network)
    _set_metadata(
        graph,
        {
            "alphabet": network.alphabet,
            "stride": str(network.stride),
            "precision": precision,
            "source": Path(model).name,
        },
    )
    with atomic_output(output, ".onnx") as temporary:
        onnx.save(graph, temporary)
        if precision == INT8:
            quantize_int8(temporary, temporary)
    written = onnx.load(output)
    return {
        "source": str(model),
        "output": str(output),
        "precision": precision,
        "bytes": output.stat().st_size,
        "opset": OPSET,
        "nodes": sorted({node.op_type for node in written.graph.node}),
    }


def quantize_int8(source: Path, output: Path) -> None:
    """onnxruntime's dynamic int8 quantization of a float32 graph (weights per channel,
    signed int8), metadata kept with precision set to int8."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(source)
    metadata = {entry.key: entry.value for entry in graph.metadata_props}
    # the quantizer logs on the root logger that it cannot quantize the shape arithmetic
    # (int64 tensors) and suggests its pre-processing, which changes nothing here
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(graph, output, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    quantized = onnx.load(output)
    _set_metadata(quantized, {**metadata, "precision": INT8})
    onnx.save(quantized, output)
