"""Time basecalling of several models alone, interleaved, on the same reads.

  modelshrink timing original=results/models/original.safetensors \\
      fp16=results/models/fp16.safetensors --reads reads.fast5 -o timing.tsv \\
      [--runs runs.tsv] [--max-samples 300000] [--repeats 3] [--max-seconds 30] \
      [--threads 2]

Every model basecalls the same first reads (up to --max-samples raw samples) in rounds:
each model in the order given between two runs of the baseline (baseline, v1, baseline,
v2, ..., baseline), --repeats rounds; warm-up calls are untimed.
A model that has run --max-seconds sits out later rounds (`repeats` says how many it ran).
The table has, per model: the kernels that ran its GRUs (`execution_path`: int8-avx2,
int8-int_mm, float32-fused, ...), its tensor encodings (`stored_as`: a file stored as
float16 or int codes but run by float32 kernels is smaller, not faster), samples/s
(median, min, max over rounds) and its speed ratio to the baseline (median, min, max
over rounds of the ratio to the baseline runs either side). --runs keeps every timed
run. --batch-size is the largest batch: a subset too small to give every thread a full
batch is cut into smaller ones, so all --threads work. Run it with nothing else on the
machine: the numbers are only as quiet as the cores they ran on.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from modelshrink.cli.basecall import (
    BASECALL_SETTINGS,
    add_settings_arguments,
    chunking_options,
    resolve_device,
)
from modelshrink.cli.settings_file import apply_settings_file

log = logging.getLogger(__name__)

#: a few seconds per model on 2 cores (~200 k samples/s in float32), enough chunks for
#: every thread to get a batch of a few dozen
DEFAULT_MAX_SAMPLES = 300_000
DEFAULT_REPEATS = 3
DEFAULT_MAX_SECONDS = 30.0


def _named_model(value: str) -> tuple[str, Path]:
    name, separator, path = value.partition("=")
    if not separator or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL, got {value!r}")
    return name, Path(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", type=_named_model, nargs="+", metavar="NAME=MODEL", help="models to time"
    )
    parser.add_argument("--reads", type=Path, nargs="+", required=True, help="fast5/pod5 files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="timing TSV")
    parser.add_argument("--runs", type=Path, help="TSV of every timed run, in order")
    parser.add_argument("--baseline", help="the model ratios are against (default: the first)")
    parser.add_argument(
        "--max-samples",
        type=int,
        default=DEFAULT_MAX_SAMPLES,
        help=f"raw samples to time on (default {DEFAULT_MAX_SAMPLES})",
    )
    parser.add_argument(
        "--repeats", type=int, default=DEFAULT_REPEATS, help=f"rounds (default {DEFAULT_REPEATS})"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help="a model that has run this long sits out later rounds "
        f"(default {DEFAULT_MAX_SECONDS:g}; the baseline runs every round)",
    )
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from modelshrink.basecaller import timing as basecall_timing
    from modelshrink.basecaller.basecall import BasecallSettings
    from modelshrink.basecaller.model_file import execution_path, load_basecaller, stored_as
    from modelshrink.basecaller.signal.discover import find_read_files, iter_reads

    timing = {"max_samples": "max_samples", "repeats": "repeats", "max_seconds": "max_seconds"}
    apply_settings_file(args, {"basecall": BASECALL_SETTINGS, "timing": timing})
    device = resolve_device(args.device)
    requested = BasecallSettings(  # checks the options before any model is loaded
        **chunking_options(args), threads=args.threads, device=device
    )
    models = []
    for name, path in args.models:
        network = load_basecaller(path)
        kernels = execution_path(network, device)
        models.append(basecall_timing.TimedModel(name, network, kernels, stored_as(path)))
    reads = basecall_timing.select_reads(iter_reads(find_read_files(args.reads)), args.max_samples)
    stride = models[0].network.stride
    workers = args.threads if device == "cpu" else 1
    batch_size = basecall_timing.timing_batch_size(
        reads,
        requested.chunk_steps * stride,
        requested.overlap_steps * stride,
        workers,
        requested.batch_size,
    )
    settings = dataclasses.replace(requested, batch_size=batch_size)
    runs, timings = basecall_timing.time_models(
        models, reads, settings, args.repeats, args.baseline, args.max_seconds
    )
    basecall_timing.write_timings(args.output, timings)
    if args.runs:
        basecall_timing.write_runs(args.runs, runs)
    for timing in timings:
        log.info(
            "%s (%s): %.0f samples/s, %.3fx the baseline (rounds %.3f-%.3f)",
            timing.variant,
            timing.execution_path,
            timing.samples_per_second,
            timing.speed_ratio,
            timing.speed_ratio_min,
            timing.speed_ratio_max,
        )
    return 0
