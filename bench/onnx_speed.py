#!/usr/bin/env python3
"""ONNX Runtime against PyTorch basecalling speed on this CPU, end to end (issue 17).

Four engines basecall the same reads with the same Basecaller settings: PyTorch float32
(the fused GRU kernel), the float32 ONNX export in onnxruntime, onnxruntime's dynamic
int8 quantization of that export (convolution and output layer in int8; onnxruntime has
no int8 GRU) and our dynamic int8 (int8 GRUs and output layer, `quantize_dynamic_int8`).
Engines are interleaved within each round and rounds repeated; the table gives median
samples/s and the median of the per-round ratios to PyTorch float32 (with their range),
because this machine is shared and a single run can be off by 30 %.

    .venv/bin/python bench/onnx_speed.py MODEL [READS...] [--copies 3] [--repeats 3]
        [--workers 1,2]

READS defaults to the shared real reads (MODELSHRINK_TEST_DATA), tiled --copies times;
with --reference (default: the shared reads' reference) the calls' median read
identity is printed per engine, and whether each engine's calls equal PyTorch's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import onnxruntime
import torch
from int8_speed import median_identity, samples_per_second, tiled_reads

from modelshrink.basecaller.compress.dynamic_int8 import quantize_dynamic_int8
from modelshrink.basecaller.compress.int8_path import cpu_description
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.model_file import load_basecaller
from modelshrink.basecaller.onnx_basecall import OnnxNetwork
from modelshrink.basecaller.onnx_export import INT8, export_onnx

BASELINE = "pytorch float32"


def engines(model: Path, folder: Path) -> dict[str, torch.nn.Module]:
    float_graph, int8_graph = folder / "float32.onnx", folder / "int8.onnx"
    export_onnx(model, float_graph)
    export_onnx(model, int8_graph, INT8)
    float_network = load_basecaller(model)
    return {
        BASELINE: float_network,
        "onnx float32": OnnxNetwork(float_graph),
        "onnx int8": OnnxNetwork(int8_graph),
        "ours dynamic_int8": quantize_dynamic_int8(float_network),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="Taiyaki checkpoint or float32 variant file")
    parser.add_argument("reads", type=Path, nargs="*")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="basecall threads, comma-separated")
    parser.add_argument("--reference", type=Path)
    args = parser.parse_args()
    reads = tiled_reads(args)
    worker_counts = [int(count) for count in args.workers.split(",")]
    compiled_kernels()  # builds or loads the fused GRU kernel outside the timed region
    with tempfile.TemporaryDirectory() as folder:
        runs = engines(args.model, Path(folder))
    speeds: dict[tuple[str, int], list[float]] = {}
    calls: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for workers in worker_counts:
            for name, network in runs.items():
                speed, calls[name] = samples_per_second(network, reads, workers, None)
                speeds.setdefault((name, workers), []).append(speed)

    samples = sum(len(read.raw) for read in reads)
    print(
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{os.cpu_count()} CPUs ({cpu_description()}), load average "
        f"{os.getloadavg()[0]:.1f}; {len(reads)} reads, {samples:,} samples; "
        f"{args.repeats} interleaved rounds"
    )
    print(f"{'workers':>7} {'engine':>17} {'samples/s':>10} {'/ pytorch':>10} {'range':>13}")
    for workers in worker_counts:
        baseline = speeds[BASELINE, workers]
        for name in runs:
            ratios = [s / b for s, b in zip(speeds[name, workers], baseline, strict=True)]
            print(
                f"{workers:7d} {name:>17} {statistics.median(speeds[name, workers]):10,.0f} "
                f"{statistics.median(ratios):9.2f}x {min(ratios):6.2f}-{max(ratios):.2f}x"
            )
    if args.reference:
        unique = len(reads) // args.copies
        for name, sequences in calls.items():
            identity = median_identity(reads[:unique], sequences, args.reference)
            same = sequences == calls[BASELINE]
            print(f"{name}: median read identity {identity:.4f}; calls equal PyTorch's: {same}")


if __name__ == "__main__":
    main()
