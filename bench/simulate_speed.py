"""How fast `modelshrink simulate reads` makes signal: simulated samples per second.

Simulates 1 Mb of reads (default: 100 kb genome at 10x, 5 kb mean length) with the real
R9.4.1 pore model, first signal only, then streamed into each writer, and prints the
numbers side by side. The question it answers: does simulating a demo's reads dominate
the demo run? (Compare: Taiyaki basecalls about 105 k samples/s on 2 cores.)

    .venv/bin/python bench/simulate_speed.py [--megabases 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from modelshrink.simulate.chunk_writer import ChunkWriter
from modelshrink.simulate.fast5_writer import Fast5Writer
from modelshrink.simulate.genome import random_genome
from modelshrink.simulate.pod5_writer import Pod5Writer
from modelshrink.simulate.poremodel import load_pore_model
from modelshrink.simulate.reads import plan_reads, simulate_reads
from modelshrink.simulate.signal import SignalSpec
from modelshrink.simulate.truth import TruthWriter


def run_once(megabases: float, folder: Path, writer: str | None) -> tuple[int, float]:
    """(samples simulated, seconds) for one full simulation into `writer` (None: no output)."""
    genome = random_genome(100_000, 0.5, np.random.default_rng(1))
    model = load_pore_model()
    spec = SignalSpec()
    coverage = megabases * 1e6 / 100_000
    start = time.perf_counter()
    layouts, seeds = plan_reads(genome, model, 7, coverage, 5000, 2500, 500)
    sinks = {
        "fast5": lambda: Fast5Writer(folder / "r.fast5", spec.sampling_rate),
        "pod5": lambda: Pod5Writer(folder / "r.pod5", spec.sampling_rate),
        "truth": lambda: TruthWriter(folder / "t.tsv"),
        "chunks": lambda: ChunkWriter(folder / "c.hdf5", 4000, spec.sampling_rate),
    }
    samples = 0
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(sinks[writer]()) if writer else None
        for read in simulate_reads(genome, layouts, model, spec, seeds):
            samples += len(read.signal.raw)
            if sink is not None:
                sink.add(read)
    return samples, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabases", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_pore_model()  # fetch outside the timing
    print(f"{'output':<14}{'samples':>12}{'median s':>10}{'samples/s':>14}{'vs signal':>11}")
    baseline = None
    for writer in (None, "truth", "chunks", "fast5", "pod5"):
        times = []
        with tempfile.TemporaryDirectory() as scratch:
            for _ in range(args.repeats):
                samples, seconds = run_once(args.megabases, Path(scratch), writer)
                times.append(seconds)
        seconds = statistics.median(times)
        rate = samples / seconds
        baseline = baseline or rate
        name = writer or "signal only"
        print(f"{name:<14}{samples:>12,}{seconds:>10.2f}{rate:>14,.0f}{rate / baseline:>10.2f}x")


if __name__ == "__main__":
    main()
