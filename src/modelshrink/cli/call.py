"""Haploid small-variant calls from long-read alignments (allele fractions per strand).

  modelshrink call --bam reads.bam --reference ref.fa --vcf calls.vcf.gz \\
      [--min-mapq 20] [--min-depth 5] [--min-snp-fraction 0.5] [--min-indel-fraction 0.6] \\
      [--min-strand-fraction 0.3] [--homopolymer-limit 4] [--sample NAME]

An allele is called (GT 1) when at least --min-depth primary reads of mapping quality
>= --min-mapq span it, at least --min-snp-fraction / --min-indel-fraction of them carry
it, at least --min-strand-fraction of each strand's spanning reads carry it, and it is
not an indel that only changes a reference homopolymer run of --homopolymer-limit or
more bases (0: call those too). Indels are left-aligned, as `bcftools norm` writes them.
The rules and why: modelshrink.calling.haploid.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from modelshrink.calling.haploid import HaploidRules

    defaults = HaploidRules()
    parser.add_argument("--bam", type=Path, required=True, help="sorted, indexed BAM")
    parser.add_argument("--reference", type=Path, required=True, help="reference FASTA")
    parser.add_argument("--vcf", type=Path, required=True, help="output VCF (bgzipped)")
    parser.add_argument("--sample", default="sample", help="sample name in the VCF")
    parser.add_argument(
        "--settings",
        type=Path,
        help="JSON/YAML with a calling: section (min_mapq, min_depth; modelshrink: the other "
        "thresholds, as in config.yaml); its values replace those options",
    )
    for field in dataclasses.fields(HaploidRules):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=type(getattr(defaults, field.name)),
            default=getattr(defaults, field.name),
            help=f"default {getattr(defaults, field.name)}",
        )


def run(args: argparse.Namespace) -> int:
    from modelshrink.calling.haploid import HaploidRules, call_contigs
    from modelshrink.calling.vcf import write_calls_vcf
    from modelshrink.cli.settings_file import apply_settings_file
    from modelshrink.evaluate.identity import read_sequences

    names = [field.name for field in dataclasses.fields(HaploidRules)]
    shared = ("min_mapq", "min_depth")  # calling: keys every caller uses
    apply_settings_file(
        args,
        {
            "calling": {name: name for name in shared},
            "calling.modelshrink": {name: name for name in names if name not in shared},
        },
    )
    rules = HaploidRules(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(HaploidRules)}
    )
    contigs = read_sequences(args.reference, "reference")
    calls, tally = call_contigs(args.bam, contigs, rules)
    lengths = {name: len(sequence) for name, sequence in contigs}
    written = write_calls_vcf(args.vcf, calls, lengths, rules, args.sample)
    log.info(
        "%d calls (%d indels); used %d of %d mapped reads (MAPQ >= %d); %d homopolymer "
        "indels not called",
        written,
        sum(call.allele.is_indel for call in calls),
        tally.reads_used,
        tally.reads_mapped,
        rules.min_mapq,
        tally.homopolymer_indels_skipped,
    )
    return 0
