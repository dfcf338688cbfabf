#!/usr/bin/env python3
"""Do removed MACs become speed? Structured pruning against float32, measured.

Issue 14: unstructured pruning stores zeros compactly but the dense kernels still multiply
them, so a pruned model is no faster. Structured pruning (`prune: {method: structured}`,
basecaller/compress/structured_prune.py) removes whole GRU hidden units: every GRU's
weight_ih / weight_hh lose their gate rows and recurrent columns and the next layer its
input columns, so the matrices really shrink. This builds, from MODEL, one structurally
pruned network per --fractions entry (the same fraction of units from every GRU), and
times each against the unpruned float32 network, interleaved and repeated (this machine
is shared), in float32 and, with --int8, in dynamic int8 too (the int8 kernel chosen for
this CPU).

    .venv/bin/python bench/structured_speed.py MODEL [READS...] [--fractions 0.25 0.5]
        [--copies 4] [--repeats 3] [--workers 2] [--int8]

Prints per network: hidden size, dense MACs per raw sample, samples/s (median), its
ratio to float32 (median of the per-round ratios), and the MAC ratio the speed-up would
be if time followed MACs. With --reference the calls' median read identity is printed
too; without fine-tuning a structurally pruned network loses most of its accuracy, so
this measures speed only (config/README.md, "prune").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
from pathlib import Path

import torch
from int8_speed import median_identity, samples_per_second

from modelshrink.basecaller.compress.cost import model_cost
from modelshrink.basecaller.compress.dynamic_int8 import quantize_dynamic_int8
from modelshrink.basecaller.compress.int8_path import available_paths, cpu_description
from modelshrink.basecaller.compress.structured_prune import prune_structured
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.network import Architecture, build_network
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.toolbox.storage import load_model

GRU_LAYERS = "sublayers.[1-5]"


def networks(model: Path, fractions: list[float], int8: bool) -> dict[str, tuple]:
    """name -> (network, int8 kernel or None, hidden size, dense MACs per sample)."""
    stored = load_model(model)
    built = {}
    for fraction in [0.0, *fractions]:
        architecture, tensors = stored.architecture, stored.tensors
        if fraction:
            result = prune_structured(tensors, architecture, {GRU_LAYERS: fraction})
            architecture, tensors = result.architecture, result.tensors
        network = build_network(Architecture.from_dict(architecture), tensors).eval()
        hidden = network.sublayers[1].layer.cudnn_gru.hidden_size
        macs = model_cost(architecture, tensors).macs_per_sample
        label = f"{round(100 * fraction)}% units"
        built[f"float32 {label}"] = (network, None, hidden, macs)
        if int8:
            kernel = available_paths(torch.device("cpu"))[0]
            built[f"int8 {label}"] = (quantize_dynamic_int8(network), kernel, hidden, macs)
    return built


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("reads", type=Path, nargs="*")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--int8", action="store_true", help="time dynamic int8 versions too")
    parser.add_argument("--reference", type=Path)
    args = parser.parse_args()
    if not args.reads:
        data = Path(
            os.environ.get("MODELSHRINK_TEST_DATA", Path(__file__).parents[2] / "shared/data")
        )
        args.reads = [data / "taiyaki" / "reads"]
    reads = [r for r in iter_reads(find_read_files(args.reads)) if not isinstance(r, Exception)]
    unique = len(reads)
    reads = [
        dataclasses.replace(read, read_id=f"{read.read_id}_{copy}")
        for copy in range(args.copies)
        for read in reads
    ]
    compiled_kernels()  # builds or loads the fused GRU kernel outside the timed region
    runs = networks(args.model, args.fractions, args.int8)
    baseline = next(iter(runs))
    speeds: dict[str, list[float]] = {name: [] for name in runs}
    ratios: dict[str, list[float]] = {name: [] for name in runs}
    calls: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name, (network, kernel, _, _) in runs.items():
            speed, calls[name] = samples_per_second(network, reads, args.workers, kernel)
            speeds[name].append(speed)
        for name in runs:
            ratios[name].append(speeds[name][-1] / speeds[baseline][-1])
    samples = sum(len(read.raw) for read in reads)
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_description()}); "
        f"{len(reads)} reads, {samples:,} samples; {args.workers} workers; median of "
        f"{args.repeats} interleaved rounds"
    )
    print(f"{'network':>18} {'hidden':>6} {'MACs/sample':>11} {'samples/s':>10} {'speed':>6} "
          f"{'MACs':>6}")  # fmt: skip
    base_macs = runs[baseline][3]
    for name, (_, _, hidden, macs) in runs.items():
        print(
            f"{name:>18} {hidden:6d} {macs:11,.0f} {statistics.median(speeds[name]):10,.0f} "
            f"{statistics.median(ratios[name]):5.2f}x {base_macs / macs:5.2f}x"
        )
    if args.reference:
        for name, sequences in calls.items():
            identity = median_identity(reads[:unique], sequences[:unique], args.reference)
            print(f"{name}: median read identity {identity:.4f}")


if __name__ == "__main__":
    main()
