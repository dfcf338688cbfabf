"""Convert a Taiyaki checkpoint into modelshrink's safetensors + JSON model file.

The checkpoint is read through an allow-list unpickler (no pickled code runs); masks
and int8 tensors written by the original pruning/quantization scripts are applied and
dequantized. Parameter names stay Taiyaki's (e.g. sublayers.1.layer.cudnn_gru.weight_ih_l0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="Taiyaki checkpoint (legacy torch.save)")
    parser.add_argument("output", type=Path, help="model file to write (.safetensors)")


def run(args: argparse.Namespace) -> int:
    from modelshrink.basecaller.model_file import convert_checkpoint

    print(json.dumps(convert_checkpoint(args.checkpoint, args.output), indent=2))
    return 0
