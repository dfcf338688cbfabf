#!/usr/bin/env python3
"""Issue 12: are simulated reads called like real ones, and do they predict what compression
costs on real reads?

Two read sets, each basecalled by the pretrained Taiyaki model ("original") and by
compressed variants built with `modelshrink compress` without fine-tuning:

- real: the five R9.4.1 test reads (three map to taiyaki/genomic_reference.fasta) and the
  seven reads inside Taiyaki's mapped-signal files, each against its own reference. Reads
  that the original does not map (two test reads, from neither reference) are left out.
- simulated: a 60 kb random genome read at 5x with 2.5 kb reads (~120 reads), made with the
  signal defaults of `modelshrink.simulate.signal.SignalSpec`, or `--signal` overrides.

Printed: for the original on each set, median and interquartile range of the per-read
Wick identity, substitution / insertion / deletion rates per reference base of each read's
best alignment, and the fraction of homopolymer runs called shorter than they are; then
per variant the change of median identity (points) on simulated and on real reads with
95 % bootstrap intervals (reads resampled, both models together) and the difference.

    .venv/bin/python bench/simulate_realism.py --workdir /tmp/simulate_realism
    .venv/bin/python bench/simulate_realism.py --signal '{"dwell_shape": 4, "noise_scale": 1,
        "noise_correlation": 0, "bases_per_second": 450, "speed_spread": 0, "noise_spread": 0}'

Calls are cached in the workdir per model and signal setting; basecalling runs on one
thread (about 25 min for all variants on two shared cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from modelshrink.basecaller.basecall import Basecaller, BasecallSettings
from modelshrink.basecaller.model_file import load_basecaller
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.signal.reads import RawRead
from modelshrink.evaluate.identity import read_identity
from modelshrink.evaluate.minimap2 import minimap2_executable
from modelshrink.simulate.genome import random_genome, read_fasta, write_fasta
from modelshrink.simulate.poremodel import load_pore_model
from modelshrink.simulate.reads import plan_reads, simulate_reads
from modelshrink.simulate.signal import SignalSpec

GRU = "sublayers.*.cudnn_gru.weight_{}_l0"
GRU_HALF = {GRU.format("ih"): 0.375, GRU.format("hh"): 0.625}
VARIANTS: dict[str, dict] = {
    "scale8": {"quantize": {"scheme": "scale", "bits": 8}},
    "per_channel8": {"quantize": {"scheme": "per_channel", "bits": 8}},
    "dynamic_int8": {"quantize": {"scheme": "dynamic_int8"}},
    "scale7": {"quantize": {"scheme": "scale", "bits": 7}},
    "per_channel6": {"quantize": {"scheme": "per_channel", "bits": 6}},
    "scale6": {"quantize": {"scheme": "scale", "bits": 6}},
    "per_channel5": {"quantize": {"scheme": "per_channel", "bits": 5}},
    "magnitude10": {"prune": {"sparsity": {GRU.format("*"): 0.10}}},
    "magnitude15": {"prune": {"sparsity": {GRU.format("*"): 0.15}}},
    "magnitude20": {"prune": {"sparsity": {GRU.format("*"): 0.20}}},
    "obs30": {"prune": {"method": "obs", "sparsity": {GRU.format("*"): 0.30}}},
    "obs50": {"prune": {"method": "obs", "sparsity": GRU_HALF}},
}
BOOTSTRAP = 2000
CIGAR = re.compile(r"(\d+)([=XID])")


def modelshrink(*args: str | Path) -> None:
    command = [str(Path(sys.executable).parent / "modelshrink"), *map(str, args)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def build_models(work: Path, data: Path) -> dict[str, Path]:
    """The converted original and every variant (rebuilt only when its spec changed).

    OBS calibrates on the mapped-signal reads, which are also evaluated: it sees their
    GRU inputs, never their labels."""
    original = work / "original.safetensors"
    if not original.exists():
        checkpoint = data / "models" / "mGru_flipflop_remapping_model_r9_DNA.checkpoint"
        modelshrink("convert", checkpoint, original)
    models = {"original": original}
    for name, spec in VARIANTS.items():
        output, report = work / f"{name}.safetensors", work / f"{name}.json"
        if not report.exists() or json.loads(report.read_text())["spec"] != spec:
            extra: list[str | Path] = []
            if spec.get("prune", {}).get("method") == "obs":
                extra = ["--training", *sorted((data / "mapped_signal").glob("*.hdf5"))]
            modelshrink(
                "compress", original, output, "--name", name, "--spec", json.dumps(spec),
                "--report", report, "--threads", 1, "--no-progress", *extra,
            )  # fmt: skip
        models[name] = output
    return models


def real_set(work: Path, data: Path) -> tuple[list[RawRead], Path]:
    """The test reads and the mapped-signal reads; one reference FASTA for all of them."""
    files = find_read_files([data / "reads"])
    reads = [read for read in iter_reads(files) if isinstance(read, RawRead)]
    references = read_fasta(data / "genomic_reference.fasta")
    for path in sorted((data / "mapped_signal").glob("*.hdf5")):
        with h5py.File(path) as handle:
            for read_id, group in handle["Reads"].items():
                attrs = group.attrs
                calibration = (attrs["digitisation"], attrs["offset"], attrs["range"])
                digitisation, offset, range_pa = (float(value) for value in calibration)
                raw = group["Dacs"][()]
                reads.append(RawRead(read_id, raw, digitisation, offset, range_pa, 4000.0, path))
                references[f"ref_{read_id}"] = "".join("ACGT"[c] for c in group["Reference"][()])
    reference = work / "real_reference.fasta"
    write_fasta(reference, references)
    return reads, reference


def simulated_set(work: Path, spec: SignalSpec) -> tuple[list[RawRead], Path]:
    genome = random_genome(60_000, 0.5, np.random.default_rng(31))
    reference = work / "simulated_genome.fasta"
    write_fasta(reference, genome)
    model = load_pore_model()
    layouts, seeds = plan_reads(genome, model, 32, 5.0, 2500, 1000, 1000)
    reads = []
    for read in simulate_reads(genome, layouts, model, spec, seeds):
        signal = read.signal
        calibration = (signal.digitisation, signal.offset, signal.range_pa)
        reads.append(
            RawRead(read.layout.read_id, signal.raw, *calibration, spec.sampling_rate, reference)
        )
    return reads, reference


def basecall(model: Path, reads: list[RawRead], fasta: Path) -> None:
    if fasta.exists():
        return
    caller = Basecaller(load_basecaller(model), BasecallSettings(threads=1))
    partial = fasta.with_suffix(".partial")
    with partial.open("w") as handle:
        handle.writelines(f">{call.read_id}\n{call.sequence}\n" for call in caller.call(reads))
    partial.rename(fasta)


def error_profile(calls: Path, reference: Path) -> dict[str, float]:
    """Error rates per reference base of each read's best primary alignment, and the share
    of homopolymer runs (4, 5, 6+ bases, flanks matched) called shorter than they are."""
    references = read_fasta(reference)
    command = [minimap2_executable(), "-x", "map-ont", "-c", "--eqx", str(reference), str(calls)]
    paf = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    best: dict[str, list[str]] = {}
    for line in paf.splitlines():
        fields = line.split("\t")
        if "tp:A:P" in fields and int(fields[9]) > int(best.get(fields[0], ["0"] * 10)[9]):
            best[fields[0]] = fields
    counts = {"match": 0, "sub": 0, "ins": 0, "del": 0}
    short: dict[int, list[bool]] = {4: [], 5: [], 6: []}
    for fields in best.values():
        start, end = int(fields[7]), int(fields[8])
        ref = references[fields[5]][start:end]
        cigar = next(field[5:] for field in fields[12:] if field.startswith("cg:Z:"))
        read_position = np.full(len(ref) + 1, -1)  # read offset of each matched base
        ref_at = read_at = 0
        for length, op in ((int(n), op) for n, op in CIGAR.findall(cigar)):
            if op == "=":
                read_position[ref_at : ref_at + length] = np.arange(read_at, read_at + length)
            counts[{"=": "match", "X": "sub", "I": "ins", "D": "del"}[op]] += length
            ref_at += length if op != "I" else 0
            read_at += length if op != "D" else 0
        for run in re.finditer(r"A{4,}|C{4,}|G{4,}|T{4,}", ref):
            before, after = read_position[run.start() - 1], read_position[run.end()]
            if run.start() > 0 and before >= 0 and after >= 0:
                called = after - before - 1
                short[min(len(run.group()), 6)].append(called < len(run.group()))
    reference_bases = counts["match"] + counts["sub"] + counts["del"]
    profile = {key: counts[key] / reference_bases for key in ("sub", "ins", "del")}
    profile |= {f"short_hp{length}": float(np.mean(runs)) for length, runs in short.items()}
    return profile


def bootstrap(original: np.ndarray, variant: np.ndarray, seed: int = 7) -> tuple[float, float]:
    draws = np.random.default_rng(seed).integers(0, len(original), (BOOTSTRAP, len(original)))
    medians = np.median(variant[draws], 1) - np.median(original[draws], 1)
    low, high = 100 * np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simulate_realism"))
    parser.add_argument("--signal", default="{}", help="SignalSpec overrides as JSON")
    args = parser.parse_args()
    shared = Path(__file__).parents[2] / "shared/data"
    data = Path(os.environ.get("MODELSHRINK_TEST_DATA", shared)) / "taiyaki"
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    overrides = json.loads(args.signal)
    spec = SignalSpec(**overrides)
    tag = hashlib.sha1(repr(spec).encode()).hexdigest()[:10]
    models = build_models(work, data)
    sets = {"sim": simulated_set(work, spec), "real": real_set(work, data)}
    identity: dict[str, dict[str, dict[str, float]]] = {}
    for name, model in models.items():
        for label, (reads, reference) in sets.items():
            fasta = work / f"calls_{label}{'_' + tag if label == 'sim' else ''}_{name}.fasta"
            basecall(model, reads, fasta)
            scores = read_identity(fasta, reference)
            identity.setdefault(label, {})[name] = {s.name: s.identity for s in scores}
            if name == "original":
                identity[label]["_profile"] = error_profile(fasta, reference)
    print(f"signal: {spec}")
    print(f"{'reads':6} {'n':>4} {'median':>7} {'IQR':>6} {'sub':>6} {'ins':>6} {'del':>6} "
          f"{'short hp4/hp5/hp6':>18}")  # fmt: skip
    keep = {}
    for label in sets:
        original = identity[label]["original"]
        keep[label] = sorted(read for read, value in original.items() if value > 0)
        values = np.array([original[read] for read in keep[label]])
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        p = identity[label]["_profile"]
        print(
            f"{label:6} {len(values):4d} {median:7.4f} {q3 - q1:6.4f} {100 * p['sub']:5.2f}% "
            f"{100 * p['ins']:5.2f}% {100 * p['del']:5.2f}%   "
            f"{p['short_hp4']:.2f} / {p['short_hp5']:.2f} / {p['short_hp6']:.2f}"
        )
    print(f"\n{'variant':13} {'Δsim':>7} {'[95% CI]':>16} {'Δreal':>7} {'[95% CI]':>16} "
          f"{'Δsim-Δreal':>10}")  # fmt: skip
    for name in VARIANTS:
        deltas = []
        for label in sets:
            before = np.array([identity[label]["original"][read] for read in keep[label]])
            after = np.array([identity[label][name].get(read, 0.0) for read in keep[label]])
            deltas.append((100 * (np.median(after) - np.median(before)), *bootstrap(before, after)))
        (sim, sim_low, sim_high), (real, real_low, real_high) = deltas
        print(
            f"{name:13} {sim:+7.2f} [{sim_low:+6.2f},{sim_high:+6.2f}] {real:+7.2f} "
            f"[{real_low:+6.2f},{real_high:+6.2f}] {sim - real:+10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
