"""Basecalling through onnxruntime: an exported graph behind the network interface the
Basecaller drives, so chunking, decoding and stitching stay exactly the PyTorch path's.

Engines (`modelshrink basecall --engine`, config `basecall.engine`): `torch` runs the
variant as PyTorch does (the fused float32 GRU kernel, or int8 kernels for a dynamic
int8 file); `onnx` runs its float32 ONNX graph in onnxruntime; `onnx-int8` runs
onnxruntime's dynamic int8 quantization of that graph. A variant file is exported on
the fly into a temporary folder; a .onnx file (from `modelshrink export`) runs as it is
(`onnx-int8` quantizes a float32 one first).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from modelshrink.basecaller.onnx_export import FLOAT32, INPUT_NAME, INT8, export_onnx, quantize_int8
from modelshrink.errors import ModelshrinkError

TORCH_ENGINE = "torch"
ONNX_ENGINE = "onnx"
ONNX_INT8_ENGINE = "onnx-int8"
ENGINES = (TORCH_ENGINE, ONNX_ENGINE, ONNX_INT8_ENGINE)
ONNX_SUFFIX = ".onnx"


class OnnxNetwork(nn.Module):
    """An onnxruntime session with the FlipFlopNetwork surface the Basecaller uses:
    forward on [samples, batch, 1], `stride`, `alphabet`, `execution_path`.

    One intra-op thread per session: the Basecaller's worker threads each call it (a
    session is thread-safe and releases the GIL), as each PyTorch worker runs single-threaded.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelshrinkError(f"{path}: not a runnable ONNX model ({error})") from error
        metadata = self.session.get_modelmeta().custom_metadata_map
        missing = [key for key in ("alphabet", "stride", "precision") if key not in metadata]
        if missing:
            raise ModelshrinkError(
                f"{path}: ONNX metadata lacks {missing}; export it with `modelshrink export`"
            )
        self._alphabet = metadata["alphabet"]
        self._stride = int(metadata["stride"])
        self.precision = metadata["precision"]
        self.execution_path = f"onnx-{self.precision}"

    @property
    def stride(self) -> int:
        return self._stride

    @property
    def alphabet(self) -> str:
        return self._alphabet

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        chunks = np.ascontiguousarray(signal.cpu().numpy(), dtype=np.float32)
        (scores,) = self.session.run(None, {INPUT_NAME: chunks})
        return torch.from_numpy(scores)


def onnx_precision(path: Path) -> str:
    """The precision an exported file records (float32 or int8)."""
    import onnx

    graph = onnx.load(path, load_external_data=False)
    return {entry.key: entry.value for entry in graph.metadata_props}.get("precision", "")


def load_onnx_network(model: Path, engine: str) -> OnnxNetwork:
    """The variant (or exported .onnx file) `model` ready to run under `engine`."""
    model = Path(model)
    if engine not in (ONNX_ENGINE, ONNX_INT8_ENGINE):
        raise ModelshrinkError(f"engine {engine!r}: expected {ONNX_ENGINE} or {ONNX_INT8_ENGINE}")
    wanted = INT8 if engine == ONNX_INT8_ENGINE else FLOAT32
    if model.suffix == ONNX_SUFFIX:
        if not model.is_file():
            raise ModelshrinkError(f"model file {model} does not exist")
        if wanted == FLOAT32 or onnx_precision(model) == INT8:
            return OnnxNetwork(model)
    # the session reads the file on creation, so the folder can go right after
    with tempfile.TemporaryDirectory(prefix="modelshrink-onnx-") as folder:
        graph = Path(folder) / f"model{ONNX_SUFFIX}"
        if model.suffix == ONNX_SUFFIX:
            quantize_int8(model, graph)
        else:
            export_onnx(model, graph, wanted)
        return OnnxNetwork(graph)


def load_network(model: Path, engine: str = TORCH_ENGINE) -> nn.Module:
    """The network `modelshrink basecall` runs for `model` under `engine`."""
    if engine == TORCH_ENGINE:
        if Path(model).suffix == ONNX_SUFFIX:
            raise ModelshrinkError(
                f"{model} is an ONNX model; basecall it with --engine {ONNX_ENGINE} "
                f"or {ONNX_INT8_ENGINE}"
            )
        from modelshrink.basecaller.model_file import load_basecaller

        return load_basecaller(model)
    return load_onnx_network(model, engine)
