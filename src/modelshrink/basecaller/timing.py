"""Basecalling speed of several models, timed the only fair way: alone, on the same reads,
interleaved with the baseline, repeated.

Why not each basecall job's own clock: those jobs share the cores with whatever else the
scheduler runs, so a variant that happened to run beside a light job looked faster (fp16
and 8-bit files, which decode to the original's float32 arithmetic, came out 1.5x "faster").
Here every model basecalls one fixed subset of reads, and every run of a variant sits
between two runs of the baseline (baseline, v1, baseline, v2, ..., baseline), round after
round. The machine's speed wanders over seconds (on a shared VM one run varies by 5-20 %
from the next, in bursts that span several runs), so a variant is compared with the
baseline runs either side of it: its ratio in a round is its speed over the mean speed of
those two, and its ratio overall the median over rounds. Each model's speed is the median
over its runs. Building kernels and first calls happen in an untimed warm-up call per model.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelshrink.atomic import write_text_atomic
from modelshrink.basecaller.basecall import Basecaller, BasecallSettings, chunk_boundaries
from modelshrink.basecaller.network import FlipFlopNetwork
from modelshrink.basecaller.signal.reads import RawRead
from modelshrink.errors import ModelshrinkError

RUN_COLUMNS = (
    "round",
    "position",
    "variant",
    "reads",
    "samples",
    "seconds",
    "cpu_seconds",
    "samples_per_second",
)
TIMING_COLUMNS = (
    "variant",
    "execution_path",
    "stored_as",
    "reads",
    "samples",
    "repeats",
    "threads",
    "batch_size",
    "device",
    "samples_per_second",
    "samples_per_second_min",
    "samples_per_second_max",
    "speed_ratio",
    "speed_ratio_min",
    "speed_ratio_max",
    "cpu_speed_ratio",
    "cpu_share",
)


@dataclass(frozen=True)
class TimedModel:
    """One model to time: its name in the report, the network, and how it executes."""

    name: str
    network: FlipFlopNetwork
    execution_path: str
    stored_as: str


@dataclass(frozen=True)
class TimedRun:
    """One timed basecall of the whole subset by one model."""

    round: int
    position: int
    variant: str
    reads: int
    samples: int
    seconds: float
    cpu_seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds


@dataclass(frozen=True)
class VariantTiming:
    """A model's speed over all rounds; ratios are against the baseline's runs either side
    of each of its runs. `repeats` counts rounds."""

    variant: str
    execution_path: str
    stored_as: str
    reads: int
    samples: int
    repeats: int
    threads: int
    batch_size: int
    device: str
    samples_per_second: float
    samples_per_second_min: float
    samples_per_second_max: float
    speed_ratio: float
    speed_ratio_min: float
    speed_ratio_max: float
    cpu_speed_ratio: float
    cpu_share: float


def select_reads(reads: Iterable[object], max_samples: int) -> list[RawRead]:
    """The first readable, non-empty reads in file order until `max_samples` raw samples are
    reached (the read that crosses the limit is kept whole): a fixed subset, so every model
    and every rerun sees the same signal."""
    if max_samples < 1:
        raise ModelshrinkError(f"--max-samples must be at least 1, got {max_samples}")
    chosen: list[RawRead] = []
    total = 0
    for read in reads:
        if not isinstance(read, RawRead) or len(read.raw) == 0:  # unreadable: not timed
            continue
        chosen.append(read)
        total += len(read.raw)
        if total >= max_samples:
            break
    if not chosen:
        raise ModelshrinkError("no readable read with signal to time basecalling on")
    return chosen


def timing_batch_size(
    reads: Sequence[RawRead], chunk_samples: int, overlap_samples: int, workers: int, largest: int
) -> int:
    """Chunks per network call such that every worker gets a batch: a small subset in
    batches of the workflow's full size would keep one thread busy and time one core.
    Never larger than `largest` (the workflow's batch size)."""
    chunks = sum(
        len(chunk_boundaries(len(read.raw), chunk_samples, overlap_samples)[0])
        for read in reads
        if len(read.raw) >= chunk_samples
    )
    return max(1, min(largest, math.ceil(chunks / max(1, workers))))


def round_order(baseline: str, variants: Sequence[str]) -> list[str]:
    """One round: every variant between two runs of the baseline."""
    order = [baseline]
    for name in variants:
        order += [name, baseline]
    return order


def _basecall_all(model: TimedModel, settings: BasecallSettings, reads: Sequence[RawRead]) -> int:
    """Raw samples called; a fresh Basecaller per run, since one refuses read ids it has
    already called (every run here calls the same reads)."""
    return sum(call.samples for call in Basecaller(model.network, settings).call(reads))


def time_models(
    models: Sequence[TimedModel],
    reads: Sequence[RawRead],
    settings: BasecallSettings,
    repeats: int,
    baseline: str | None,
    max_seconds: float,
) -> tuple[list[TimedRun], list[VariantTiming]]:
    """Every run in order, and per model its speed and ratio to `baseline` (default: first).

    A model that has spent `max_seconds` in timed runs sits out the remaining rounds (the
    baseline never does): a model 20x slower than the baseline needs no third round to
    show it, and the step's cost stays bounded. `VariantTiming.repeats` says how many
    rounds each model ran.
    """
    names = [model.name for model in models]
    if len(set(names)) != len(names):
        raise ModelshrinkError(f"model names must be unique, got {names}")
    baseline = baseline or names[0]
    if baseline not in names:
        raise ModelshrinkError(f"--baseline {baseline!r} is not one of the models {names}")
    if repeats < 1:
        raise ModelshrinkError(f"--repeats must be at least 1, got {repeats}")
    by_name = {model.name: model for model in models}
    for model in models:
        _basecall_all(model, settings, reads[:1])  # warm-up: kernel build, first-call costs
    runs = []
    spent = dict.fromkeys(names, 0.0)
    for round_number in range(1, repeats + 1):
        variants = [
            name
            for name in names
            if name != baseline and (round_number == 1 or spent[name] < max_seconds)
        ]
        for position, name in enumerate(round_order(baseline, variants), start=1):
            started, started_cpu = time.perf_counter(), time.process_time()
            samples = _basecall_all(by_name[name], settings, reads)
            if samples == 0:
                raise ModelshrinkError(f"{name}: none of the {len(reads)} timing reads was called")
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - started_cpu
            spent[name] += seconds
            runs.append(
                TimedRun(round_number, position, name, len(reads), samples, seconds, cpu_seconds)
            )
    return runs, summarise_runs(models, runs, settings, baseline)


def neighbouring_baselines(runs: Sequence[TimedRun], baseline: str) -> list[list[TimedRun]]:
    """Per run, the baseline's runs next to it in its round: the last before it and the
    first after it, where there is one."""
    neighbours = []
    for index, run in enumerate(runs):
        same_round = [
            i
            for i, other in enumerate(runs)
            if other.variant == baseline and other.round == run.round
        ]
        before = [runs[i] for i in same_round if i < index][-1:]
        after = [runs[i] for i in same_round if i > index][:1]
        neighbours.append(before + after)
    return neighbours


def summarise_runs(
    models: Sequence[TimedModel],
    runs: Sequence[TimedRun],
    settings: BasecallSettings,
    baseline: str,
) -> list[VariantTiming]:
    """Median speed per model and median over its runs of the ratio to the baseline runs
    either side of each.

    Beside the wall-clock ratio, the same ratio in process CPU time (`cpu_speed_ratio`:
    CPU work per sample, which other load on the machine barely changes, but blind to
    threads left idle) and `cpu_share`, the CPU time a run got over threads x wall time:
    well below the share a quiet machine gives, the cores were busy with something else
    and the wall-clock numbers are noise.
    """
    neighbours = neighbouring_baselines(runs, baseline)
    timings = []
    for model in models:
        own = [(run, neighbours[i]) for i, run in enumerate(runs) if run.variant == model.name]
        if model.name != baseline and any(not around for _, around in own):
            raise ModelshrinkError(f"{model.name}: a timed run has no baseline run in its round")
        speeds = [run.samples_per_second for run, _ in own]
        if model.name == baseline:
            ratios = cpu_ratios = [1.0]
        else:
            ratios = [
                run.samples_per_second / statistics.fmean(r.samples_per_second for r in around)
                for run, around in own
            ]
            cpu_ratios = [
                statistics.fmean(r.cpu_seconds for r in around) / run.cpu_seconds
                for run, around in own
            ]
        shares = [run.cpu_seconds / (settings.threads * run.seconds) for run, _ in own]
        timings.append(
            VariantTiming(
                variant=model.name,
                execution_path=model.execution_path,
                stored_as=model.stored_as,
                reads=own[0][0].reads,
                samples=own[0][0].samples,
                repeats=len({run.round for run, _ in own}),
                threads=settings.threads,
                batch_size=settings.batch_size,
                device=settings.device,
                samples_per_second=statistics.median(speeds),
                samples_per_second_min=min(speeds),
                samples_per_second_max=max(speeds),
                speed_ratio=statistics.median(ratios),
                speed_ratio_min=min(ratios),
                speed_ratio_max=max(ratios),
                cpu_speed_ratio=statistics.median(cpu_ratios),
                cpu_share=statistics.median(shares),
            )
        )
    return timings


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _table(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    lines = ["\t".join(columns)]
    lines += ["\t".join(_cell(row[column]) for column in columns) for row in rows]
    return "\n".join(lines) + "\n"


def write_timings(path: Path, timings: Sequence[VariantTiming]) -> None:
    write_text_atomic(path, _table(TIMING_COLUMNS, (vars(t) for t in timings)))


def write_runs(path: Path, runs: Sequence[TimedRun]) -> None:
    rows = ({**vars(run), "samples_per_second": run.samples_per_second} for run in runs)
    write_text_atomic(path, _table(RUN_COLUMNS, rows))
