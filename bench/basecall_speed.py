#!/usr/bin/env python3
"""Basecalling speed on this CPU: modelshrink vs a Taiyaki-style baseline, side by side.

The baseline schedules work the way Taiyaki's basecall.py does: one read per network
call, posteriors through autograd of the log-partition function, torch threads for
intra-op parallelism. Both produce identical calls (checked). Each configuration runs
in its own subprocess so peak memory (max RSS) is its own.

    .venv/bin/python bench/basecall_speed.py MODEL READS... [--copies 10]

READS defaults to the shared real reads (MODELSHRINK_TEST_DATA); --copies tiles them to
make a set large enough for a steady-state figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from modelshrink.basecaller import flipflop
from modelshrink.basecaller.basecall import Basecaller, BasecallSettings, chunk_boundaries, stitch
from modelshrink.basecaller.compress.cost import dense_macs_per_step
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.model_file import load_basecaller
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.signal.reads import med_mad_normalise

TAIYAKI_MEASURED = 104_700  # samples/s, TAIYAKI_FACTS.md, 60 simulated reads, 2 threads


def load_reads(paths: list[Path], copies: int) -> list:
    reads = [r for r in iter_reads(find_read_files(paths)) if not isinstance(r, Exception)]
    return [r for _ in range(copies) for r in reads]


class AtenGRU(torch.nn.GRU):
    """nn.GRU under another name, so GruMod runs torch's own GRU kernel as Taiyaki did."""


def taiyaki_style(network, reads) -> list[str]:
    """One read per call, ATen GRUs, autograd posteriors, torch-loop Viterbi: Taiyaki's way."""
    for module in network.modules():
        if type(module) is torch.nn.GRU:
            module.__class__ = AtenGRU
    calls = []
    chunk, overlap = 1000 * network.stride, 100 * network.stride
    for read in reads:
        signal = med_mad_normalise(read.picoamps())
        starts, ends = chunk_boundaries(len(signal), chunk, overlap)
        chunks = np.stack([signal[s:e] for s, e in zip(starts, ends, strict=True)], 1)[:, :, None]
        with torch.no_grad():
            scores = network(torch.from_numpy(chunks))
        scores.requires_grad_()
        with torch.enable_grad():
            log_z = flipflop.log_partition(scores).sum()
        posteriors = torch.autograd.grad(log_z, scores)[0]
        paths = flipflop.viterbi(torch.log(posteriors + flipflop.POSTERIOR_FLOOR))
        path = stitch(list(paths.T), starts, ends, network.stride)
        calls.append(flipflop.path_to_sequence(path, network.alphabet))
    return calls


def modelshrink_calls(network, reads, threads: int) -> list[str]:
    caller = Basecaller(network, BasecallSettings(threads=threads))
    return [call.sequence for call in caller.call(reads)]


def run_one(args) -> None:
    """Child process: time one configuration, print JSON."""
    network = load_basecaller(args.model)
    reads = load_reads(args.reads, args.copies)
    samples = sum(len(r.raw) for r in reads)
    torch.set_num_threads(args.threads)
    compiled_kernels()  # builds or loads the fused GRU kernel outside the timed region
    started = time.perf_counter()
    if args.mode == "taiyaki":
        calls = taiyaki_style(network, reads)
    else:
        calls = modelshrink_calls(network, reads, args.threads)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "samples": samples,
                "seconds": seconds,
                "samples_per_s": samples / seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "calls": calls,
            }
        )
    )


def stage_breakdown(network, batch: int = 128) -> dict[str, float]:
    """Seconds per stage for one batch of full chunks on one thread."""
    torch.set_num_threads(1)
    x = torch.randn(1000 * network.stride, batch, 1)
    times: dict[str, float] = {}
    with torch.inference_mode():
        for index, layer in enumerate(network.sublayers):
            started = time.perf_counter()
            x = layer(x)
            name = f"layer {index} ({type(layer).__name__})"
            times[name] = time.perf_counter() - started
        started = time.perf_counter()
        posteriors = flipflop.transition_posteriors(x)
        times["posterior (forward-backward)"] = time.perf_counter() - started
        started = time.perf_counter()
        flipflop.viterbi(torch.log(posteriors + flipflop.POSTERIOR_FLOOR))
        times["viterbi"] = time.perf_counter() - started
    return times


def gemm_rate(threads: int) -> float:
    """Multiply-accumulates per second of a large fp32 GEMM: what the cores can do."""
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    started = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2048**3 / (time.perf_counter() - started)


def macs_per_sample(network) -> float:
    return dense_macs_per_step(network.architecture.to_dict()) / network.stride


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("reads", type=Path, nargs="*")
    parser.add_argument("--copies", type=int, default=10, help="tile the read set this many times")
    parser.add_argument("--child", choices=["taiyaki", "modelshrink"], dest="mode")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not args.reads:
        data = Path(
            os.environ.get(
                "MODELSHRINK_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
            )
        )
        args.reads = [data / "taiyaki" / "reads"]
    if args.mode:
        run_one(args)
        return

    def child(mode: str, threads: int) -> dict:
        command = [
            sys.executable,
            __file__,
            str(args.model),
            *map(str, args.reads),
            "--copies",
            str(args.copies),
            "--child",
            mode,
            "--threads",
            str(threads),
        ]
        return json.loads(
            subprocess.run(command, capture_output=True, text=True, check=True).stdout
        )

    network = load_basecaller(args.model)
    results = {
        "Taiyaki-style baseline, 2 threads": child("taiyaki", 2),
        "modelshrink, 1 worker": child("modelshrink", 1),
        "modelshrink, 2 workers": child("modelshrink", 2),
    }
    baseline = results["Taiyaki-style baseline, 2 threads"]
    print(f"reads: {args.reads} x{args.copies} = {baseline['samples']:,} samples\n")
    print(
        f"{'configuration':40s} {'samples/s':>12s} {'x baseline':>11s} "
        f"{'x Taiyaki 104.7k':>17s} {'peak RSS MB':>12s}"
    )
    for name, result in results.items():
        speed = result["samples_per_s"]
        print(
            f"{name:40s} {speed:12,.0f} {speed / baseline['samples_per_s']:11.2f} "
            f"{speed / TAIYAKI_MEASURED:17.2f} {result['peak_rss_mb']:12.0f}"
        )
    reference = baseline["calls"]
    for name, result in results.items():
        same = sum(a == b for a, b in zip(result["calls"], reference, strict=True))
        print(f"{name}: {same}/{len(reference)} reads called identically to the baseline")

    macs = macs_per_sample(network)
    print(f"\nnetwork cost: {macs:,.0f} multiply-accumulates per raw sample")
    for threads in (1, 2):
        rate = gemm_rate(threads)
        print(
            f"large fp32 GEMM on {threads} thread(s): {rate / 1e9:6.1f} GMAC/s -> ceiling "
            f"{rate / macs:12,.0f} samples/s for the network alone"
        )
    best = max(r["samples_per_s"] for r in results.values())
    print(f"best measured end to end: {best:,.0f} samples/s = {best * macs / 1e9:.1f} GMAC/s")

    print("\nwhere the time goes (one batch of 128 chunks, 1 thread):")
    times = stage_breakdown(network)
    total = sum(times.values())
    for name, seconds in times.items():
        print(f"  {name:40s} {seconds:7.3f} s  {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
