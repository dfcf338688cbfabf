"""Compare variant calls with a truth set; hap.py-compatible outputs without hap.py.

  modelshrink evaluate TRUTH.vcf.gz QUERY.vcf.gz -r ref.fa -o results/x \\
      [-f confident.bed] [--pass-only] [--ploidy 1|2]

Writes <prefix>.summary.csv (hap.py's columns and rows), <prefix>.metrics.json and
<prefix>.vcf.gz(.tbi) annotated with BD (TP/FP/FN/UNK) and BK (gm/am/lm) per sample.
Matching is haplotype-aware: equivalent representations of the same change match.
Duplicate records count once; symbolic (<DEL>, *, breakend) and IUPAC-ambiguous alleles
are skipped; both are counted in a warning and in metrics.json's "inputs".
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("truth", type=Path, help="truth VCF (plain, gzip or bgzip)")
    parser.add_argument("query", type=Path, help="query VCF (plain, gzip or bgzip)")
    parser.add_argument("-r", "--reference", type=Path, required=True, help="reference FASTA")
    parser.add_argument(
        "-o", "--output-prefix", type=Path, required=True, help="prefix of the output files"
    )
    parser.add_argument(
        "-f",
        "--confident-regions",
        type=Path,
        default=None,
        help="BED of confident regions; query calls outside are UNK, truth outside not counted",
    )
    parser.add_argument(
        "--pass-only", action="store_true", help="drop query calls that fail any filter"
    )
    parser.add_argument(
        "--settings",
        type=Path,
        help="JSON/YAML with an evaluation: section (pass_only, as in config.yaml)",
    )
    parser.add_argument(
        "--ploidy",
        type=int,
        choices=(1, 2),
        default=1,
        help="1 (default): haploid, compare allele presence ('1' == '1/1'); "
        "2: diploid, genotype mismatches count as FP.gt",
    )


def run(args: argparse.Namespace) -> int:
    from modelshrink.cli.settings_file import apply_settings_file
    from modelshrink.evaluate.vcfcompare import compare_vcfs, write_outputs

    apply_settings_file(args, {"evaluation": {"pass_only": "pass_only"}})

    comparison = compare_vcfs(
        args.truth,
        args.query,
        args.reference,
        confident_bed=args.confident_regions,
        pass_only=args.pass_only,
        ploidy=args.ploidy,
    )
    paths = write_outputs(comparison, args.output_prefix)
    for row in comparison.rows:
        log.info(
            "%s %s: truth %d, TP %d, FN %d, query FP %d, recall %.4f, precision %.4f",
            row["Type"],
            row["Filter"],
            row["TRUTH.TOTAL"],
            row["TRUTH.TP"],
            row["TRUTH.FN"],
            row["QUERY.FP"],
            row["METRIC.Recall"],
            row["METRIC.Precision"],
        )
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return 0
