"""Basecall raw R9.4.1 reads (fast5 single/multi-read, VBZ, pod5) with a flip-flop model.

Faithful to Taiyaki's basecall.py defaults: pA conversion, median/MAD normalisation,
chunks of 1000 network steps overlapping by 100, posterior decoding + Viterbi, paths
stitched at overlap midpoints. Output format follows the file name: .fastq[.gz],
.fasta[.gz]/.fa, .bam (unaligned), or - for FASTQ on stdout. BAM and FASTQ are shaped
as Dorado and Guppy write them: @RG naming the model, @PG with version and command line,
per-read RG, qs, ch, mx, rn, st, du, fn tags (mv with --emit-moves); FASTQ headers with
runid=, read=, ch=, start_time=, basecall_model_version_id=. --sequencing-summary
writes Guppy's sequencing_summary.txt (one row per read) for pycoQC or NanoPlot.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from modelshrink.basecaller.signal.reads import MIN_CALLABLE_SAMPLES, SkipReason
from modelshrink.cli.settings_file import apply_settings_file
from modelshrink.errors import ModelshrinkError

log = logging.getLogger("modelshrink.basecaller.basecall")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Device, batch, chunk, overlap and threads (shared with `modelshrink timing`)."""
    library = "default: BasecallSettings', Taiyaki's"
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, help=f"chunks per network call ({library})")
    parser.add_argument("--chunk-size", type=int, help=f"chunk length in network steps ({library})")
    parser.add_argument("--overlap", type=int, help=f"chunk overlap in network steps ({library})")
    parser.add_argument("--threads", type=int, default=1, help="CPU worker threads")
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="JSON/YAML with a basecall: section (batch_size, chunk_size, overlap, device, "
        "engine, as in config.yaml); its values replace those options",
    )


def chunking_options(args: argparse.Namespace) -> dict[str, int]:
    """BasecallSettings fields for the chunking options given; the others keep the
    dataclass's defaults (their one owner)."""
    given = {
        "chunk_steps": args.chunk_size,
        "overlap_steps": args.overlap,
        "batch_size": args.batch_size,
    }
    return {field: value for field, value in given.items() if value is not None}


#: basecall: keys of a --settings file (config.yaml's names) -> option dests
BASECALL_SETTINGS = {
    "batch_size": "batch_size",
    "chunk_size": "chunk_size",
    "overlap": "overlap",
    "device": "device",
    "engine": "engine",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="Taiyaki checkpoint or modelshrink .safetensors")
    parser.add_argument("reads", type=Path, nargs="+", help="fast5/pod5 files or folders")
    parser.add_argument(
        "-o", "--output", default="-", help="output file (default: FASTQ on stdout)"
    )
    add_settings_arguments(parser)
    parser.add_argument(
        "--min-samples",
        type=int,
        default=MIN_CALLABLE_SAMPLES,
        help="skip reads with fewer raw samples (default: %(default)s, 0.25 s at 4 kHz)",
    )
    parser.add_argument(
        "--engine",
        choices=["torch", "onnx", "onnx-int8"],
        default="torch",
        help="torch (default), onnx: the float32 ONNX graph in onnxruntime, onnx-int8: "
        "onnxruntime's dynamic int8 quantization of it (CPU only; a .onnx model needs onnx)",
    )
    parser.add_argument(
        "--model-name",
        help="basecall model name in @RG and FASTQ headers (default: the model file's stem)",
    )
    parser.add_argument(
        "--emit-moves", action="store_true", help="BAM: add the move table (mv, ts, ns tags)"
    )
    parser.add_argument(
        "--sequencing-summary",
        type=Path,
        help="also write a sequencing_summary.txt (Guppy/Dorado columns, one row per read)",
    )
    parser.add_argument("--no-recursive", action="store_true", help="do not search subfolders")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--summary",
        type=Path,
        help="write a TSV summary (reads, skipped reads per reason, samples, seconds, "
        "samples/s, execution path)",
    )


def resolve_device(choice: str) -> str:
    """auto -> cuda when available, else cpu; cuda without a device is an error."""
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise ModelshrinkError("--device cuda requested but no CUDA device is available")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def _engine_device(engine: str, choice: str) -> str:
    """The device of `engine`: onnxruntime runs here on the CPU (auto means cpu)."""
    if engine == "torch":
        return resolve_device(choice)
    if choice == "cuda":
        raise ModelshrinkError(f"--engine {engine} runs on the CPU; use --device cpu or auto")
    return "cpu"


def _skip_counts(skipped: Mapping[SkipReason, int]) -> str:
    counts = [f"{count} {reason}" for reason, count in skipped.items() if count]
    return ", ".join(counts) if counts else "none"


def _summary_table(
    called: int,
    skipped: Mapping[SkipReason, int],
    bases: int,
    samples: int,
    seconds: float,
    qscores: list[float],
    execution_path: str,
) -> str:
    """One-row TSV; `skipped` is the total, then one `skipped_<reason>` column per reason;
    `execution_path` says which kernels ran (e.g. int8-avx2, float32-fused)."""
    columns = {
        "reads": str(called),
        "skipped": str(sum(skipped.values())),
        "bases": str(bases),
        "samples": str(samples),
        "seconds": f"{seconds:.3f}",
        "samples_per_second": f"{samples / seconds:.1f}",
        "median_read_qscore": f"{statistics.median(qscores or [0.0]):.2f}",
        "execution_path": execution_path,
    }
    columns.update({f"skipped_{reason}": str(skipped.get(reason, 0)) for reason in SkipReason})
    return "\t".join(columns) + "\n" + "\t".join(columns.values()) + "\n"


def model_name(args: argparse.Namespace) -> str:
    """--model-name, else the model file's stem; one word, as FASTQ headers need."""
    name = args.model_name if args.model_name is not None else args.model.stem
    if not name or any(character.isspace() for character in name):
        raise ModelshrinkError(f"--model-name: expected one word without spaces, got {name!r}")
    return name


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from modelshrink.basecaller.basecall import Basecaller, BasecallSettings, read_mean_qscore
    from modelshrink.basecaller.onnx_basecall import load_network
    from modelshrink.basecaller.seqio import BasecallWriter
    from modelshrink.basecaller.sequencing_summary import sequencing_summary
    from modelshrink.basecaller.signal.discover import find_read_files, iter_reads

    apply_settings_file(args, {"basecall": BASECALL_SETTINGS})
    settings = BasecallSettings(
        **chunking_options(args),
        threads=args.threads,
        device=_engine_device(args.engine, args.device),
        min_samples=args.min_samples,
    )
    files = find_read_files(args.reads, recursive=not args.no_recursive)
    basecaller = Basecaller(load_network(args.model, args.engine), settings)
    progress = tqdm(
        desc="basecalling", unit=" reads", disable=args.no_progress or None, file=sys.stderr
    )
    called = samples = bases = 0
    qscores = []
    started = time.perf_counter()
    writer = BasecallWriter(
        args.output,
        model_name(args),
        args.command_line,
        basecaller.stride,
        emit_moves=args.emit_moves,
    )
    with contextlib.ExitStack() as outputs:
        outputs.enter_context(writer)
        add_to_summary = (
            outputs.enter_context(sequencing_summary(args.sequencing_summary))
            if args.sequencing_summary
            else None
        )
        for call in basecaller.call(iter_reads(files)):
            writer.write(call)
            if add_to_summary is not None:
                add_to_summary(call)
            called += 1
            samples += call.samples
            bases += len(call.sequence)
            qscores.append(read_mean_qscore(call.qualities))
            progress.update()
        if called == 0:
            raise ModelshrinkError(
                f"no read could be basecalled from {len(files)} file(s) "
                f"({args.reads[0]}{' ...' if len(args.reads) > 1 else ''}); "
                f"skipped: {_skip_counts(basecaller.skipped)} (reasons per read in the "
                "warnings above)"
            )
    progress.close()
    seconds = time.perf_counter() - started
    log.info(
        "called %d reads (%d bases, %d samples) in %.1f s: %.0f samples/s (%s); skipped: %s",
        called,
        bases,
        samples,
        seconds,
        samples / seconds,
        basecaller.execution_path,
        _skip_counts(basecaller.skipped),
    )
    if args.summary:
        from modelshrink.atomic import write_text_atomic

        write_text_atomic(
            args.summary,
            _summary_table(
                called,
                basecaller.skipped,
                bases,
                samples,
                seconds,
                qscores,
                basecaller.execution_path,
            ),
        )
    return 0
