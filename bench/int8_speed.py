#!/usr/bin/env python3
"""Int8 against float32 basecalling speed on this CPU, end to end, per int8 kernel.

Issue 4's goal (c) and issue 14: dynamic int8 execution faster than fp32 basecalling on
the CPU at hand. Both models are the same network (the int8 one is what
`load_basecaller` returns for a `dynamic_int8` variant file: int8 GRUs and output layer,
float convolution and decoder), run by the same Basecaller with the same settings. The
int8 model runs once per int8 GRU kernel available here (compress/int8_path.py: the
AVX2 kernel, torch._int_mm, the TorchScript loop; --paths picks some), the automatic
choice marked. Configurations are interleaved and repeated, and medians reported,
because this machine is shared and a single run can be off by 30 %.

    .venv/bin/python bench/int8_speed.py MODEL [READS...] [--copies 10] [--repeats 5]
        [--paths avx2,int_mm]

READS defaults to the shared real reads (MODELSHRINK_TEST_DATA), tiled --copies times;
with --reference (default: the shared reads' reference) the calls' median read
identity is printed for every model, as a check that int8 still basecalls.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modelshrink.basecaller.basecall import Basecaller, BasecallSettings
from modelshrink.basecaller.compress.dynamic_int8 import quantize_dynamic_int8
from modelshrink.basecaller.compress.int8_path import (
    ENVIRONMENT_VARIABLE,
    available_paths,
    cpu_description,
)
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.model_file import load_basecaller
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.evaluate.identity import read_identity


def samples_per_second(network, reads, workers: int, path: str | None) -> tuple[float, list[str]]:
    """Speed of one run; `path` forces the int8 GRU kernel (None: float32)."""
    if path is not None:
        os.environ[ENVIRONMENT_VARIABLE] = path
    caller = Basecaller(network, BasecallSettings(threads=workers))
    started = time.perf_counter()
    calls = [call.sequence for call in caller.call(reads)]
    seconds = time.perf_counter() - started
    os.environ.pop(ENVIRONMENT_VARIABLE, None)
    return sum(len(read.raw) for read in reads) / seconds, calls


def tiled_reads(args: argparse.Namespace) -> list:
    """args.reads (default: the shared real reads, and their reference as
    args.reference) tiled args.copies times."""
    if not args.reads:
        data = Path(
            os.environ.get("MODELSHRINK_TEST_DATA", Path(__file__).parents[2] / "shared/data")
        )
        args.reads = [data / "taiyaki" / "reads"]
        args.reference = args.reference or data / "taiyaki" / "genomic_reference.fasta"
    reads = [r for r in iter_reads(find_read_files(args.reads)) if not isinstance(r, Exception)]
    # distinct ids per copy: the Basecaller skips a read id it has already called
    return [
        dataclasses.replace(read, read_id=f"{read.read_id}_{copy}")
        for copy in range(args.copies)
        for read in reads
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("reads", type=Path, nargs="*")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--paths", help="int8 kernels to time, comma-separated (default: all)")
    args = parser.parse_args()
    reads = tiled_reads(args)
    compiled_kernels()  # builds or loads the fused GRU kernel outside the timed region
    available = available_paths(torch.device("cpu"))
    paths = args.paths.split(",") if args.paths else available
    float_network = load_basecaller(args.model)
    int8_network = quantize_dynamic_int8(float_network)
    runs: dict[str, tuple[torch.nn.Module, str | None]] = {"float32": (float_network, None)}
    runs.update({f"int8 {path}": (int8_network, path) for path in paths})
    speeds: dict[tuple[str, int], list[float]] = {}
    calls: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for workers in (1, 2):
            for name, (network, path) in runs.items():
                speed, calls[name] = samples_per_second(network, reads, workers, path)
                speeds.setdefault((name, workers), []).append(speed)

    samples = sum(len(read.raw) for read in reads)
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_description()}); "
        f"{len(reads)} reads, {samples:,} samples; median of {args.repeats} interleaved runs; "
        f"int8 kernel chosen here: {available[0]}"
    )
    print(f"{'workers':>7} {'model':>17} {'samples/s':>10} {'/ float32':>10}")
    for workers in (1, 2):
        fp32 = statistics.median(speeds["float32", workers])
        for name in runs:
            speed = statistics.median(speeds[name, workers])
            print(f"{workers:7d} {name:>17} {speed:10,.0f} {speed / fp32:9.2f}x")
    if args.reference:
        unique = len(reads) // args.copies
        for name, sequences in calls.items():
            identity = median_identity(reads[:unique], sequences, args.reference)
            print(f"{name}: median read identity of the calls {identity:.4f}")


def median_identity(reads, sequences: list[str], reference: Path) -> float:
    """Median Wick identity of one call per read (0 for a read that does not map)."""
    with tempfile.TemporaryDirectory() as folder:
        fasta = Path(folder) / "calls.fasta"
        fasta.write_text(
            "".join(f">{r.read_id}\n{s}\n" for r, s in zip(reads, sequences, strict=False))
        )
        scores = {score.name: score.identity for score in read_identity(fasta, reference)}
    return statistics.median(scores.get(read.read_id, 0.0) for read in reads)


if __name__ == "__main__":
    main()
