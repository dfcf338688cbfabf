"""Export a basecaller model (Taiyaki checkpoint or any variant file) as an ONNX graph.

  modelshrink export MODEL OUTPUT.onnx [--format onnx] [--precision float32|int8]

float32 computes what `modelshrink basecall` computes with the variant's decoded
weights; int8 is onnxruntime's dynamic quantization of it (convolution and output layer
in int8; onnxruntime has no int8 GRU). Time and batch axes are dynamic; the alphabet
and stride are in the model metadata. `modelshrink basecall --engine onnx OUTPUT.onnx`
basecalls with it. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FORMATS = ("onnx",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="Taiyaki checkpoint or modelshrink .safetensors")
    parser.add_argument("output", type=Path, help="file to write (.onnx)")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="export format")
    parser.add_argument(
        "--precision",
        choices=["float32", "int8"],
        default="float32",
        help="float32, or onnxruntime's dynamic int8 quantization of it",
    )


def run(args: argparse.Namespace) -> int:
    from modelshrink.basecaller.onnx_export import export_onnx

    print(json.dumps(export_onnx(args.model, args.output, args.precision), indent=2))
    return 0
