#!/usr/bin/env python3
"""What real R9.4.1 signal looks like against the 6-mer pore model, measured the same way on
simulated reads (the numbers behind `modelshrink.simulate.signal`'s defaults).

Each read is aligned sample by sample to its reference's 6-mer levels by a banded Viterbi
(stay / next base / skip one, Gaussian emissions around a per-read linear pA fit, band of
30 bases around a guide path), then measured:

- speed (samples per base), dwell coefficient of variation, share of bases under 4 samples;
- noise: the autocorrelation of samples around their event's mean (events of 20+ samples),
  lags 1-4, and its level in k-mer spreads;
- event wander: SD of event means (6+ samples) around the fitted 6-mer level, in k-mer spreads;
- homopolymers: per-base dwell of runs of 4 and 5 relative to the read's mean, and the CV
  of a run's total dwell next to what independent dwells would give.

Real reads: the seven reads of Taiyaki's mapped-signal files (their Ref_to_signal is the
guide). Simulated reads (`--simulate`, with `--signal` overrides of SignalSpec): the guide
is the simulator's own base starts, so the same alignment can be checked against the
truth. About 15 s per 40 k samples.

    .venv/bin/python bench/real_signal_stats.py
    .venv/bin/python bench/real_signal_stats.py --simulate --signal '{"noise_correlation": 0.8}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from modelshrink.simulate.genome import random_genome
from modelshrink.simulate.poremodel import PoreModel, load_pore_model
from modelshrink.simulate.reads import plan_reads, read_context, simulate_reads
from modelshrink.simulate.signal import SignalSpec, encode_bases

BAND = 30
SKIP_PROBABILITY = 0.01
NEGATIVE = -1e18
CLIP = 12.5  # squared z-scores above 5^2 count as 5^2: an outlier sample cannot derail a path


def viterbi(samples: np.ndarray, means: np.ndarray, sigma: float, guide: np.ndarray) -> np.ndarray:
    """The most likely base index of every sample (monotone, ends on the last base)."""
    states, width = len(means), 2 * BAND + 1
    move = len(means) / len(samples)
    stay, step, skip = np.log([1 - move, move * (1 - SKIP_PROBABILITY), move * SKIP_PROBABILITY])
    low = np.maximum.accumulate(np.clip(guide - BAND, 0, max(states - width, 0)))
    offsets = np.arange(width)
    back = np.zeros((len(samples), width), dtype=np.int8)
    score = np.full(width, NEGATIVE)
    score[0] = 0.0  # the first sample belongs to the first base (low[0] is 0 there)
    for t in range(len(samples)):
        shift = low[t] - low[t - 1] if t else 0
        if shift:
            score = np.concatenate([score[shift:], np.full(shift, NEGATIVE)])
        if t:
            options = np.stack([
                score + stay,
                np.concatenate([[NEGATIVE], score[:-1]]) + step,
                np.concatenate([[NEGATIVE, NEGATIVE], score[:-2]]) + skip,
            ])  # fmt: skip
            back[t] = options.argmax(0)
            score = options.max(0)
        state = low[t] + offsets
        level = means[np.minimum(state, states - 1)]
        emission = -np.minimum((samples[t] - level) ** 2 / (2 * sigma**2), CLIP)
        score = np.where(state < states, score + emission, NEGATIVE)
    path = np.empty(len(samples), dtype=np.int64)
    offset = states - 1 - low[-1]
    for t in range(len(samples) - 1, -1, -1):
        path[t] = low[t] + offset
        if t:
            offset = path[t] - back[t, offset] - low[t - 1]
    return path


def align(picoamps: np.ndarray, levels: np.ndarray, guide_starts: np.ndarray) -> dict:
    """Per-base dwell and event means of one read; its pA fit (scale, shift) and noise SD."""
    samples = picoamps[guide_starts[0] : guide_starts[-1]]
    guide = np.searchsorted(guide_starts - guide_starts[0], np.arange(len(samples)), "right") - 1
    expected = levels[np.clip(guide, 0, len(levels) - 1)]
    mad = lambda values: np.median(np.abs(values - np.median(values)))  # noqa: E731
    scale = mad(samples) / mad(expected)
    shift = np.median(samples) - scale * np.median(expected)
    sigma = 2.0 * scale
    for _ in range(2):
        path = viterbi(samples, scale * levels + shift, sigma, guide)
        design = np.vstack([levels[path], np.ones(len(path))]).T
        (scale, shift), *_ = np.linalg.lstsq(design, samples, rcond=None)
        sigma = 1.4826 * np.median(np.abs(samples - design @ (scale, shift)))
        guide = path
    dwell = np.bincount(path, minlength=len(levels))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(path, weights=samples, minlength=len(levels)) / dwell
    return {"samples": samples, "path": path, "dwell": dwell, "means": means, "scale": scale,
            "shift": shift}  # fmt: skip


def real_reads(data: Path, model: PoreModel) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(pA, reference codes, where each 6-mer's base starts) of every mapped-signal read."""
    for path in sorted((data / "mapped_signal").glob("*.hdf5")):
        with h5py.File(path) as handle:
            for group in handle["Reads"].values():
                attrs = group.attrs
                picoamps = (group["Dacs"][()] + attrs["offset"]) * attrs["range"]
                picoamps /= attrs["digitisation"]
                reference = group["Reference"][()].astype(np.int64)
                starts = group["Ref_to_signal"][()]
                count = len(reference) - model.k + 1
                yield picoamps, reference, starts[model.shift : model.shift + count + 1]


def simulated_reads(spec: SignalSpec, model: PoreModel, count: int) -> Iterator[tuple]:
    genome = random_genome(40_000, 0.5, np.random.default_rng(41))
    layouts, seeds = plan_reads(genome, model, 42, 1.0, 4000, 1000, 2000)
    for read in list(simulate_reads(genome, layouts, model, spec, seeds))[:count]:
        _, context = read_context(genome, read.layout, model)
        yield read.signal.to_picoamps(), encode_bases(context), read.signal.base_starts


def autocorrelation(samples: np.ndarray, dwell: np.ndarray, lags: int = 4) -> np.ndarray:
    """Pooled autocorrelation of samples around their event's mean, events of 20+ samples."""
    starts = np.concatenate([[0], np.cumsum(dwell)])
    products, power = np.zeros(lags), 0.0
    for base in np.flatnonzero(dwell >= 20):
        event = samples[starts[base] : starts[base + 1]]
        event = event - event.mean()
        power += event @ event
        products += [event[:-lag] @ event[lag:] for lag in range(1, lags + 1)]
    return products / power


def measure(reads: Iterator[tuple], model: PoreModel) -> None:
    rows, runs = [], {4: [], 5: []}
    for picoamps, reference, starts in reads:
        codes = model.kmer_codes(reference)
        levels, spreads = model.level_pa[codes], model.stdv_pa[codes]
        fit = align(picoamps, levels, starts)
        dwell, scale = fit["dwell"], fit["scale"]
        spb = dwell.mean()
        events = fit["means"][fit["path"]]
        long = dwell[fit["path"]] >= 6
        noise = np.std((fit["samples"] - events)[long]) / scale / np.median(spreads)
        fitted = (fit["means"] - fit["shift"]) / scale
        wander = np.std(((fitted - levels) / spreads)[dwell >= 6])
        rows.append([spb, dwell.std() / spb, np.mean(dwell < 4), noise, wander,
                     *autocorrelation(fit["samples"], dwell)])  # fmt: skip
        bases = reference[model.shift : model.shift + len(codes)]
        change = np.flatnonzero(np.diff(bases)) + 1
        for start, end in itertools.pairwise(change):
            if end - start in runs:
                runs[end - start].append(dwell[start:end].sum() / spb)
        print(f"read {len(rows)}: {len(codes)} bases, {spb:.2f} samples/base", file=sys.stderr)
    table = np.array(rows)
    names = ["samples/base", "dwell CV", "dwell < 4", "noise (spreads)", "event wander",
             "noise acf 1", "noise acf 2", "noise acf 3", "noise acf 4"]  # fmt: skip
    for name, column in zip(names, table.T, strict=True):
        print(
            f"{name:16} median {np.median(column):6.3f}  "
            f"range {column.min():6.3f}-{column.max():6.3f}"
        )
    cv = np.median(table[:, 1])
    for length, totals in runs.items():
        totals = np.array(totals)
        print(
            f"homopolymer {length}: {len(totals)} runs, per-base dwell "
            f"{totals.mean() / length:.3f} x mean, total CV {totals.std() / totals.mean():.3f} "
            f"(independent {cv / np.sqrt(length):.3f})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true", help="measure simulated reads")
    parser.add_argument("--signal", default="{}", help="SignalSpec overrides as JSON")
    parser.add_argument("--reads", type=int, default=5, help="simulated reads to measure")
    args = parser.parse_args()
    shared = Path(__file__).parents[2] / "shared/data"
    data = Path(os.environ.get("MODELSHRINK_TEST_DATA", shared)) / "taiyaki"
    model = load_pore_model()
    if args.simulate:
        spec = SignalSpec(**json.loads(args.signal))
        print(f"simulated, {spec}")
        measure(simulated_reads(spec, model, args.reads), model)
    else:
        print("real: Taiyaki mapped-signal reads")
        measure(real_reads(data, model), model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
