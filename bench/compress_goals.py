#!/usr/bin/env python3
"""Issue 4's goals, measured: size, read identity and int8 speed of compressed variants.

Builds the variants with `modelshrink compress` from the converted pretrained Taiyaki
model, basecalls the five real R9.4.1 reads (three map to the shared reference) and a
small simulated set, and prints side by side: file bytes and ratio to fp32, median read
identity per variant and its difference to the original, and basecalling samples/s of
dynamic int8 against fp32 measured in one run (alternating, median of --repeats).

    .venv/bin/python bench/compress_goals.py --workdir /tmp/compress_goals [--steps 80]

Fine-tuning runs with one torch thread: on two shared cores, two OpenMP threads
spun ~10x slower per step than one. Fine-tuning data: the shared Taiyaki mapped-signal files (other reads than the five
evaluated) plus simulated training chunks from a genome other than the evaluation
genome. Goals (issue 4): 8-bit per-channel >= 3.9x smaller, identity within 0.3 points;
50 % GRU sparsity + fine-tuning within 1 point; dynamic int8 >= 1.5x fp32 speed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from modelshrink.basecall import Basecaller, BasecallSettings
from modelshrink.basecaller_model import load_basecaller
from modelshrink.evaluate.identity import read_identity, summarise
from modelshrink.signal.discover import find_read_files, iter_reads

GRU_WEIGHTS = "sublayers.*.cudnn_gru.weight_*"


def variant_specs(steps: int) -> dict[str, dict]:
    finetune = {"steps": steps, "learning_rate": 1e-3, "batch_size": 8, "chunk_length": 2000}
    return {
        "fp16": {"quantize": {"scheme": "float16"}},
        "int8_per_channel": {"quantize": {"scheme": "per_channel", "bits": 8}},
        "int8_scale_original": {"quantize": {"scheme": "scale", "bits": 8}},
        "gru50": {"prune": {"sparsity": {GRU_WEIGHTS: 0.5}}},
        "gru50_finetuned": {"prune": {"sparsity": {GRU_WEIGHTS: 0.5}}, "finetune": finetune},
        "dynamic_int8": {"quantize": {"scheme": "dynamic_int8"}},
    }


def modelshrink(*args: str | Path) -> None:
    command = [str(Path(sys.executable).parent / "modelshrink"), *map(str, args)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def prepare(work: Path, data: Path) -> dict[str, Path]:
    """Original model, evaluation reads and training chunks (made once per workdir)."""
    paths = {
        "original": work / "original.safetensors",
        "sim_genome": work / "sim_genome.fasta",
        "sim_reads": work / "sim_reads.fast5",
        "train_genome": work / "train_genome.fasta",
        "train_chunks": work / "train_chunks.hdf5",
    }
    taiyaki = data / "taiyaki"
    if not paths["original"].exists():
        checkpoint = taiyaki / "models" / "mGru_flipflop_remapping_model_r9_DNA.checkpoint"
        modelshrink("convert", checkpoint, paths["original"])
    if not paths["sim_reads"].exists():
        modelshrink(
            "simulate", "genome", "-o", paths["sim_genome"], "--length", 40000, "--seed", 11
        )
        modelshrink(
            "simulate", "reads", "--genome", paths["sim_genome"], "--fast5", paths["sim_reads"],
            "--truth", work / "sim_truth.tsv", "--coverage", 4, "--seed", 12,
        )  # fmt: skip
    if not paths["train_chunks"].exists():
        modelshrink(
            "simulate", "genome", "-o", paths["train_genome"], "--length", 40000, "--seed", 21
        )
        modelshrink(
            "simulate", "reads", "--genome", paths["train_genome"], "--fast5",
            work / "train_reads.fast5", "--truth", work / "train_truth.tsv", "--chunks",
            paths["train_chunks"], "--chunk-samples", 2000, "--coverage", 10, "--seed", 22,
        )  # fmt: skip
    return paths


def build_variants(work: Path, paths: dict[str, Path], data: Path, steps: int) -> dict[str, dict]:
    reports = {}
    mapped = sorted((data / "taiyaki" / "mapped_signal").glob("*.hdf5"))
    for name, spec in variant_specs(steps).items():
        output, report = work / f"{name}.safetensors", work / f"{name}.json"
        if not report.exists():
            extra = []
            if "finetune" in spec:
                training = [*mapped, paths["train_chunks"]]
                extra = ["--training", *training, "--loss-log", work / f"{name}_loss.tsv"]
            modelshrink(
                "compress", paths["original"], output, "--name", name, "--spec",
                json.dumps(spec), "--report", report, "--threads", 1, "--no-progress", *extra,
            )  # fmt: skip
        reports[name] = json.loads(report.read_text())
    return reports


def basecall(model: Path, reads: list, fasta: Path) -> tuple[float, int]:
    """Writes the calls as FASTA; returns (seconds in the basecaller, samples)."""
    caller = Basecaller(load_basecaller(model), BasecallSettings(threads=2))
    started = time.perf_counter()
    calls = list(caller.call(reads))
    seconds = time.perf_counter() - started
    with gzip.open(fasta, "wt") if fasta.suffix == ".gz" else fasta.open("w") as handle:
        handle.writelines(f">{call.read_id}\n{call.sequence}\n" for call in calls)
    return seconds, sum(call.samples for call in calls)


def median_identity(fasta: Path, reference: Path) -> float:
    return summarise(read_identity(fasta, reference)).median_identity


def load_reads(path: Path) -> list:
    return [r for r in iter_reads(find_read_files([path])) if not isinstance(r, Exception)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/compress_goals"))
    parser.add_argument("--steps", type=int, default=80, help="fine-tuning steps")
    parser.add_argument("--repeats", type=int, default=3, help="speed runs per model")
    args = parser.parse_args()
    data = Path(os.environ.get("MODELSHRINK_TEST_DATA", Path(__file__).parents[2] / "shared/data"))
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    paths = prepare(work, data)
    reports = build_variants(work, paths, data, args.steps)
    sets = {
        "real": (load_reads(data / "taiyaki" / "reads"), data / "taiyaki/genomic_reference.fasta"),
        "sim": (load_reads(paths["sim_reads"]), paths["sim_genome"]),
    }
    models = {"original": paths["original"]} | {
        name: work / f"{name}.safetensors" for name in reports
    }
    identity: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        identity[name] = {}
        for label, (reads, reference) in sets.items():
            fasta = work / f"calls_{name}_{label}.fasta"
            basecall(model, reads, fasta)
            identity[name][label] = median_identity(fasta, reference)

    sim_reads = sets["sim"][0]
    speed: dict[str, list[float]] = {"original": [], "dynamic_int8": []}
    for _ in range(args.repeats):
        for name in speed:
            seconds, samples = basecall(models[name], sim_reads, work / "speed.fasta")
            speed[name].append(samples / seconds)

    original_bytes = models["original"].stat().st_size
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; fine-tuning {args.steps} steps")
    print(f"{'variant':22} {'bytes':>9} {'ratio':>6} {'nnz':>7} "
          f"{'real id':>8} {'Δ pts':>6} {'sim id':>8} {'Δ pts':>6}")  # fmt: skip
    for name in models:
        size = models[name].stat().st_size
        nnz = reports[name]["nonzero_parameters"] if name in reports else 285160
        real, sim = identity[name]["real"], identity[name]["sim"]
        print(
            f"{name:22} {size:9d} {original_bytes / size:6.2f} {nnz:7d} {100 * real:8.2f} "
            f"{100 * (real - identity['original']['real']):+6.2f} {100 * sim:8.2f} "
            f"{100 * (sim - identity['original']['sim']):+6.2f}"
        )
    fp32, int8 = statistics.median(speed["original"]), statistics.median(speed["dynamic_int8"])
    samples = sum(len(read.raw) for read in sim_reads)
    print(
        f"speed on {len(sim_reads)} simulated reads ({samples} samples), 2 threads, median of "
        f"{args.repeats}: fp32 {fp32:,.0f} samples/s, dynamic int8 {int8:,.0f} samples/s, "
        f"ratio {int8 / fp32:.2f}x"
    )
    tuned = reports["gru50_finetuned"]["finetune"]
    print(f"gru50_finetuned fine-tuning: {json.dumps(tuned)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
