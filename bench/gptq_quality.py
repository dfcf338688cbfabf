#!/usr/bin/env python3
"""What GPTQ buys over rounding to nearest: per-channel N-bit weights, both ways, side by side.

Each variant is built by `compress.model_variant.build_variant` exactly as `modelshrink
compress` builds it (weights at N bits, biases at 8, GPTQ calibrated on `--training`),
then measured against the original by `sensitivity.damage.DamageMeter`:
- simulated reads: mean Wick identity of the first `--reads` reads of `--sim-reads`
  (each cut to `--read-samples` samples) against `--sim-reference`;
- real reads: the same on every read of `--real-reads`, over the reads the original
  aligns (as the summary counts them);
- KL divergence of the flip-flop path distribution from the original's on 24 real
  labelled chunks of `--training`.

    .venv/bin/python bench/gptq_quality.py --model results/models/original.safetensors \\
        --sim-reads results/demo/reads.fast5 --sim-reference results/demo/sample.fasta \\
        --real-reads $DATA/taiyaki/reads --real-reference $DATA/taiyaki/genomic_reference.fasta \\
        --training $DATA/taiyaki/mapped_signal/*.hdf5

Prints per bit-width and method: file size ratio to the original, identity change on
simulated and on real reads (points; negative is a loss), KL, and the build seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modelshrink.basecaller.compress.model_variant import FinetuneOptions, build_variant
from modelshrink.basecaller.compress.spec import parse_variant
from modelshrink.basecaller.network import Architecture, build_network
from modelshrink.sensitivity.damage import (
    DamageMeter,
    DamageSettings,
    evaluation_chunks,
    read_subset,
)
from modelshrink.toolbox.storage import load_model


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="converted original")
    parser.add_argument("--sim-reads", type=Path, required=True)
    parser.add_argument("--sim-reference", type=Path, required=True)
    parser.add_argument("--real-reads", type=Path, required=True)
    parser.add_argument("--real-reference", type=Path, required=True)
    parser.add_argument("--training", type=Path, nargs="+", required=True)
    parser.add_argument("--bits", type=int, nargs="+", default=[6, 5, 4])
    parser.add_argument("--reads", type=int, default=16)
    parser.add_argument("--read-samples", type=int, default=40000)
    return parser.parse_args()


def real_change(meter: DamageMeter, tensors: dict[str, torch.Tensor]) -> float:
    """Mean identity change (points) over the real reads the original aligns."""
    changed = meter.read_identities(meter.network(tensors))
    pairs = [(o, c) for o, c in zip(meter.identities, changed, strict=True) if o > 0]
    return 100 * statistics.fmean(c - o for o, c in pairs)


def main() -> None:
    args = arguments()
    torch.set_num_threads(1)
    stored = load_model(args.model)
    architecture = Architecture.from_dict(stored.architecture)
    stride = build_network(architecture).stride
    settings = DamageSettings(reads=args.reads, read_samples=args.read_samples)
    chunks = evaluation_chunks(args.training, settings, stride)

    def meter(reads: Path, subset: DamageSettings, reference: Path) -> DamageMeter:
        chosen = read_subset([reads], subset)
        return DamageMeter(architecture, stored.tensors, chunks, chosen, reference)

    simulated = meter(args.sim_reads, settings, args.sim_reference)
    every_real_read = DamageSettings(reads=1000, read_samples=10**9)
    real = meter(args.real_reads, every_real_read, args.real_reference)
    print(
        f"original: simulated {100 * simulated.read_identity:.2f} % on {len(simulated.reads)} "
        f"reads, real {len(real.reads)} reads ({sum(i > 0 for i in real.identities)} align)"
    )
    print("bits  method  ratio  Δ simulated  Δ real   KL      build s")
    original_bytes = args.model.stat().st_size
    for bits in args.bits:
        for method in ("round", "gptq"):
            raw = {
                "quantize": {
                    "scheme": "per_channel",
                    "method": method,
                    "bits": {"sublayers.*.weight*": bits, "sublayers.*.bias*": 8},
                }
            }
            spec = parse_variant(f"{method}{bits}", raw, list(stored.tensors))
            with tempfile.TemporaryDirectory(prefix="gptq-quality-") as folder:
                path = Path(folder) / "variant.safetensors"
                start = time.perf_counter()
                build_variant(
                    args.model, path, spec, FinetuneOptions(tuple(args.training), progress=False)
                )
                seconds = time.perf_counter() - start
                ratio = original_bytes / path.stat().st_size
                tensors = load_model(path).tensors
            damage = simulated.measure(tensors)
            print(
                f"{bits:4d}  {method:6s}  {ratio:4.2f}x  {-damage.identity_loss_points:+10.2f}  "
                f"{real_change(real, tensors):+7.2f}  {damage.kl_divergence:.4f}  {seconds:7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
