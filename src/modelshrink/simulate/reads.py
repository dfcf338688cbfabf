"""Where reads come from (contig, strand, start, length) and the per-read simulation loop.

Reads are drawn from both strands with equal probability; lengths are log-normal (the
usual shape of nanopore read-length distributions) with the requested mean and standard
deviation, truncated to [min_length, the ACGT stretch available]. Reads never cross an N
run and keep 3 bases of genome on each side as pore-model context (the 6-mer around the
first and last read base), so every base of the truth sequence has its own event.
Reads are drawn until their bases add up to coverage x (ACGT length of the genome).

Determinism: one `numpy.random.SeedSequence(seed)` spawns the layout stream and one
stream per read, so a read's signal depends only on the seed and its index, not on
which outputs are written.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.genome import acgt_segments, reverse_complement
from modelshrink.simulate.poremodel import PoreModel
from modelshrink.simulate.signal import SignalSpec, SimulatedSignal, simulate_signal

CHANNELS = 512
MAX_READS = 10_000_000


@dataclass(frozen=True)
class ReadLayout:
    """Source of one read: sample-genome coordinates are 0-based, half-open, on the + strand."""

    read_id: str
    contig: str
    strand: str
    start: int
    end: int


@dataclass(frozen=True)
class SimulatedRead:
    """A read with its exact truth and the run metadata fast5/pod5 writers need."""

    layout: ReadLayout
    sequence: str
    signal: SimulatedSignal
    read_number: int
    channel: int
    mux: int
    start_time: int
    median_before: float


def _read_id(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def sample_layouts(
    genome: dict[str, str],
    coverage: float,
    mean_length: float,
    length_sd: float,
    min_length: int,
    flank: int,
    rng: np.random.Generator,
) -> list[ReadLayout]:
    """Read sources covering the genome `coverage` times over (see module docstring)."""
    if coverage <= 0:
        raise ModelshrinkError(f"reads coverage must be > 0, got {coverage}")
    if mean_length <= 0 or min_length <= 0 or length_sd < 0:
        raise ModelshrinkError(
            f"read lengths must be > 0 (mean_length={mean_length}, min_length={min_length}) "
            f"and length_sd >= 0 (got {length_sd})"
        )
    windows = [
        (name, start + flank, end - flank)
        for name, sequence in genome.items()
        for start, end in acgt_segments(sequence, min_length + 2 * flank)
    ]
    if not windows:
        raise ModelshrinkError(
            f"no stretch of pure ACGT sequence is long enough for a read of min_length "
            f"{min_length} (+{flank} bases of context on each side)"
        )
    sizes = np.array([end - start for _, start, end in windows], dtype=float)
    target = coverage * sum(
        end - start for seq in genome.values() for start, end in acgt_segments(seq)
    )
    sigma2 = math.log1p((length_sd / mean_length) ** 2)
    mu = math.log(mean_length) - sigma2 / 2
    layouts: list[ReadLayout] = []
    total = 0
    while total < target:
        if len(layouts) >= MAX_READS:
            raise ModelshrinkError(f"coverage {coverage} would need more than {MAX_READS} reads")
        name, window_start, window_end = windows[
            int(rng.choice(len(windows), p=sizes / sizes.sum()))
        ]
        length = round(rng.lognormal(mu, math.sqrt(sigma2))) if length_sd > 0 else int(mean_length)
        length = min(max(length, min_length), window_end - window_start)
        start = int(rng.integers(window_start, window_end - length + 1))
        strand = "+" if rng.random() < 0.5 else "-"
        layouts.append(ReadLayout(_read_id(rng), name, strand, start, start + length))
        total += length
    return layouts


def read_context(genome: dict[str, str], layout: ReadLayout, model: PoreModel) -> tuple[str, str]:
    """(read sequence, the read with pore-model flanks) in read orientation."""
    contig = genome[layout.contig]
    before, after = model.shift, model.k - 1 - model.shift
    if layout.strand == "+":
        context = contig[layout.start - before : layout.end + after]
        return contig[layout.start : layout.end], context
    context = reverse_complement(contig[layout.start - after : layout.end + before])
    return reverse_complement(contig[layout.start : layout.end]), context


def simulate_reads(
    genome: dict[str, str],
    layouts: list[ReadLayout],
    model: PoreModel,
    spec: SignalSpec,
    signal_seeds: list[np.random.SeedSequence],
) -> Iterator[SimulatedRead]:
    """Yield reads one at a time so writers can stream them (memory stays per read)."""
    start_time = 0
    for number, (layout, seed) in enumerate(zip(layouts, signal_seeds, strict=True)):
        rng = np.random.default_rng(seed)
        sequence, context = read_context(genome, layout, model)
        signal = simulate_signal(context, model, spec, rng)
        channel = int(rng.integers(1, CHANNELS + 1))
        mux = int(rng.integers(1, 5))
        median_before = float(rng.normal(205.0, 4.0))
        yield SimulatedRead(
            layout, sequence, signal, number + 1, channel, mux, start_time, median_before
        )
        start_time += len(signal.raw) + int(spec.sampling_rate)


def plan_reads(
    genome: dict[str, str],
    model: PoreModel,
    seed: int,
    coverage: float,
    mean_length: float,
    length_sd: float,
    min_length: int,
) -> tuple[list[ReadLayout], list[np.random.SeedSequence]]:
    """Layouts and one seed per read, all derived from `seed`."""
    layout_seed, signal_root = np.random.SeedSequence(seed).spawn(2)
    flank = max(model.shift, model.k - 1 - model.shift)
    layouts = sample_layouts(
        genome,
        coverage,
        mean_length,
        length_sd,
        min_length,
        flank,
        np.random.default_rng(layout_seed),
    )
    return layouts, signal_root.spawn(len(layouts))
