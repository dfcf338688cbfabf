"""Simulate demo data with known truth: genome, truth variants, R9.4.1 raw-signal reads.

  modelshrink simulate genome   -o reference.fasta [--length 50000 --gc 0.5 | --from my.fasta]
  modelshrink simulate variants --reference reference.fasta --vcf truth.vcf.gz \\
                                --sample-fasta sample.fasta
  modelshrink simulate reads    --genome sample.fasta --fast5 reads.fast5 --pod5 reads.pod5 \\
                                --truth truth.tsv --chunks chunks.hdf5
  modelshrink simulate pore-model -o dna_r9.4.1_400bps_6mer.npz

Settings come from `--config FILE` (section simulate.genome / .variants / .reads, see
modelshrink.simulate.specs) with command-line flags taking precedence. The same seed
gives byte-identical sequences and signal.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# flag dest -> key in the config section (signal settings live in reads.signal)
GENOME_KEYS = ("length", "gc", "contigs", "seed")
VARIANT_KEYS = (
    "snps",
    "indels",
    "max_indel",
    "homopolymer_fraction",
    "min_gap",
    "sample_name",
    "seed",
)
READ_KEYS = ("coverage", "mean_length", "length_sd", "min_length", "chunk_samples", "seed")
SIGNAL_KEYS = (
    "bases_per_second",
    "speed_spread",
    "dwell_shape",
    "noise_scale",
    "noise_spread",
    "noise_correlation",
    "level_jitter",
    "scale_jitter",
    "offset_jitter_pa",
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--settings",
        "--config",
        dest="config",
        type=Path,
        help="JSON/YAML file with a `simulate:` section (the workflow's settings file)",
    )
    parser.add_argument("--seed", type=int, help="random seed (same seed, same output)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="simulate_command", required=True, metavar="WHAT")

    genome = commands.add_parser("genome", help="random reference FASTA, or check a user's")
    genome.add_argument("-o", "--output", type=Path, required=True, help="FASTA to write")
    genome.add_argument("--length", type=int, help="total bases (default 50000)")
    genome.add_argument("--gc", type=float, help="GC fraction (default 0.5)")
    genome.add_argument("--contigs", type=int, help="number of contigs (default 1)")
    genome.add_argument("--from", dest="source", type=Path, help="use this FASTA instead")
    _common(genome)

    variants = commands.add_parser("variants", help="truth SNPs/indels and the sample FASTA")
    variants.add_argument("--reference", type=Path, required=True, help="reference FASTA")
    variants.add_argument("--vcf", type=Path, required=True, help="truth VCF to write (.vcf.gz)")
    variants.add_argument("--sample-fasta", type=Path, required=True, help="sample FASTA to write")
    variants.add_argument("--snps", type=int, help="number of SNPs (default 100)")
    variants.add_argument("--indels", type=int, help="number of 1-10 bp indels (default 20)")
    variants.add_argument("--max-indel", type=int, help="longest indel (default 10)")
    variants.add_argument(
        "--homopolymer-fraction", type=float, help="share of indels in homopolymers (0.3)"
    )
    variants.add_argument("--min-gap", type=int, help="bases between variants (default 10)")
    variants.add_argument("--sample-name", help="VCF sample column (default 'sample')")
    _common(variants)

    reads = commands.add_parser("reads", help="R9.4.1 raw-signal reads with a truth table")
    reads.add_argument("--genome", type=Path, required=True, help="sample FASTA to read from")
    reads.add_argument("--fast5", type=Path, help="multi-read fast5 to write")
    reads.add_argument("--pod5", type=Path, help="pod5 to write")
    reads.add_argument("--truth", type=Path, help="truth table TSV to write")
    reads.add_argument("--chunks", type=Path, help="training chunk HDF5 to write")
    reads.add_argument(
        "--pore-model", type=Path, help="k-mer model (.npz or ONT TSV); default: fetch R9.4.1"
    )
    reads.add_argument("--coverage", type=float, help="mean depth (default 20)")
    reads.add_argument("--mean-length", type=float, help="mean read length (default 5000)")
    reads.add_argument("--length-sd", type=float, help="read length SD (default 2500)")
    reads.add_argument("--min-length", type=int, help="shortest read (default 500)")
    reads.add_argument("--chunk-samples", type=int, help="samples per training chunk (4000)")
    reads.add_argument("--bases-per-second", type=float, help="median translocation speed")
    reads.add_argument("--speed-spread", type=float, help="per-read SD of log speed")
    reads.add_argument("--dwell-shape", type=float, help="gamma shape of per-base dwell")
    reads.add_argument("--noise-scale", type=float, help="noise SD in units of k-mer spread")
    reads.add_argument("--noise-spread", type=float, help="per-read SD of log noise scale")
    reads.add_argument(
        "--noise-correlation", type=float, help="lag-1 autocorrelation of the noise (AR(1))"
    )
    reads.add_argument("--level-jitter", type=float, help="per-event level SD (k-mer spreads)")
    reads.add_argument("--scale-jitter", type=float, help="per-read relative pA scale SD")
    reads.add_argument("--offset-jitter-pa", type=float, help="per-read pA offset SD")
    _common(reads)

    pore_model = commands.add_parser(
        "pore-model", help="fetch the R9.4.1 k-mer model (pip download uncalled4), verified"
    )
    pore_model.add_argument(
        "-o", "--output", type=Path, required=True, help="where to write the .npz model"
    )


def _section(args: argparse.Namespace, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """Config section `simulate.<name>` overlaid with the flags the user gave."""
    from modelshrink.errors import ModelshrinkError

    values: dict[str, Any] = {}
    if args.config is not None:
        from modelshrink.cli.settings_file import read_settings_file

        document = read_settings_file(args.config, "--settings")
        section = (document.get("simulate") or {}).get(name) or {}
        if not isinstance(section, dict):
            raise ModelshrinkError(f"{args.config}: simulate.{name} must be a mapping")
        values.update(section)
    values.update({key: getattr(args, key) for key in keys if getattr(args, key) is not None})
    return values


def _genome(args: argparse.Namespace) -> int:
    import numpy as np

    from modelshrink.simulate.genome import random_genome, read_fasta, write_fasta
    from modelshrink.simulate.specs import GenomeSpec, spec_from_mapping

    if args.source is not None:
        sequences = read_fasta(args.source)
    else:
        spec = spec_from_mapping(
            GenomeSpec, _section(args, "genome", GENOME_KEYS), "simulate.genome"
        )
        sequences = random_genome(
            spec.length, spec.gc, np.random.default_rng(spec.seed), spec.contigs
        )
    write_fasta(args.output, sequences)
    log.info(
        "wrote %d contig(s), %d bases to %s",
        len(sequences),
        sum(map(len, sequences.values())),
        args.output,
    )
    return 0


def _variants(args: argparse.Namespace) -> int:
    import numpy as np

    from modelshrink.simulate.genome import read_fasta, write_fasta
    from modelshrink.simulate.genomic_variants import (
        apply_variants,
        simulate_variants,
        write_truth_vcf,
    )
    from modelshrink.simulate.specs import GenomicVariantSpec, spec_from_mapping

    spec = spec_from_mapping(
        GenomicVariantSpec, _section(args, "variants", VARIANT_KEYS), "simulate.variants"
    )
    reference = read_fasta(args.reference)
    variants = simulate_variants(
        reference,
        spec.snps,
        spec.indels,
        np.random.default_rng(spec.seed),
        max_indel=spec.max_indel,
        homopolymer_fraction=spec.homopolymer_fraction,
        min_gap=spec.min_gap,
    )
    write_truth_vcf(args.vcf, reference, variants, spec.sample_name)
    write_fasta(args.sample_fasta, apply_variants(reference, variants))
    log.info("wrote %d truth variants to %s", len(variants), args.vcf)
    return 0


def _reads(args: argparse.Namespace) -> int:
    import contextlib

    from modelshrink.errors import ModelshrinkError
    from modelshrink.simulate.chunk_writer import ChunkWriter
    from modelshrink.simulate.fast5_writer import Fast5Writer
    from modelshrink.simulate.genome import read_fasta
    from modelshrink.simulate.pod5_writer import Pod5Writer
    from modelshrink.simulate.poremodel import load_pore_model
    from modelshrink.simulate.reads import plan_reads, simulate_reads
    from modelshrink.simulate.specs import ReadSpec, spec_from_mapping
    from modelshrink.simulate.truth import TruthWriter

    if not any((args.fast5, args.pod5, args.truth, args.chunks)):
        raise ModelshrinkError(
            "simulate reads: give at least one of --fast5/--pod5/--truth/--chunks"
        )
    values = _section(args, "reads", READ_KEYS)
    signal = dict(values.get("signal") or {})
    signal.update(
        {key: getattr(args, key) for key in SIGNAL_KEYS if getattr(args, key) is not None}
    )
    values["signal"] = signal
    spec = spec_from_mapping(ReadSpec, values, "simulate.reads")
    genome = read_fasta(args.genome)
    model = load_pore_model(args.pore_model)
    layouts, seeds = plan_reads(
        genome, model, spec.seed, spec.coverage, spec.mean_length, spec.length_sd, spec.min_length
    )
    rate = spec.signal.sampling_rate
    with contextlib.ExitStack() as stack:
        sinks = []
        if args.fast5:
            sinks.append(stack.enter_context(Fast5Writer(args.fast5, rate)))
        if args.pod5:
            sinks.append(stack.enter_context(Pod5Writer(args.pod5, rate)))
        if args.truth:
            sinks.append(stack.enter_context(TruthWriter(args.truth)))
        if args.chunks:
            sinks.append(stack.enter_context(ChunkWriter(args.chunks, spec.chunk_samples, rate)))
        samples = 0
        for read in simulate_reads(genome, layouts, model, spec.signal, seeds):
            samples += len(read.signal.raw)
            for sink in sinks:
                sink.add(read)
    log.info("simulated %d reads, %d samples", len(layouts), samples)
    return 0


def _pore_model(args: argparse.Namespace) -> int:
    from modelshrink.simulate.poremodel import fetch_model_to

    log.info("pore model ready: %s", fetch_model_to(args.output))
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {
        "genome": _genome,
        "variants": _variants,
        "reads": _reads,
        "pore-model": _pore_model,
    }
    return handlers[args.simulate_command](args)
