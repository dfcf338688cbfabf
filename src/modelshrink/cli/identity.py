"""Read or assembly identity against a reference (Wick et al. 2019 definitions).

  modelshrink identity reads --reads R.fastq.gz --reference ref.fa --out per_read.tsv \\
      --summary summary.tsv [--threads N]
  modelshrink identity assembly --assembly A.fasta --reference ref.fa --out pieces.tsv \\
      --summary summary.tsv [--threads N]

Per-sequence TSV: name, length, identity, relative_length. Summary TSV (one row):
sequences, aligned, median_identity, mean_identity, median_relative_length,
mean_relative_length (+ piece_length, scored_as, whole_identity, whole_aligned_fraction
for assemblies). Identities are fractions. Assembly pieces and whole contigs are aligned
with map-ont (see modelshrink.evaluate.identity for why not asm5).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", type=Path, required=True, help="reference FASTA")
    parser.add_argument("--out", type=Path, required=True, help="per-sequence identity TSV")
    parser.add_argument("--summary", type=Path, required=True, help="one-row summary TSV")
    parser.add_argument("--threads", type=int, default=1, help="minimap2 threads (default 1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    reads = kinds.add_parser("reads", help="per-read identity (minimap2 -x map-ont -c)")
    reads.add_argument("--reads", type=Path, required=True, help="FASTA/FASTQ, gzipped or not")
    _add_common(reads)
    assembly = kinds.add_parser(
        "assembly", help="identity of 10 kb assembly pieces and of the whole assembly (map-ont)"
    )
    assembly.add_argument("--assembly", type=Path, required=True, help="assembly FASTA")
    assembly.add_argument(
        "--piece-length", type=int, default=10_000, help="piece length in bp (default 10000)"
    )
    _add_common(assembly)


def run(args: argparse.Namespace) -> int:
    from modelshrink.errors import ModelshrinkError
    from modelshrink.evaluate import identity

    if args.threads < 1:
        raise ModelshrinkError(f"--threads must be >= 1, got {args.threads}")
    extra: dict[str, str | int] = {}
    if args.kind == "reads":
        scores = identity.read_identity(args.reads, args.reference, args.threads)
    else:
        if args.piece_length < 1:
            raise ModelshrinkError(f"--piece-length must be >= 1, got {args.piece_length}")
        result = identity.assembly_identity(
            args.assembly, args.reference, args.threads, args.piece_length
        )
        scores = result.pieces
        extra = {
            "piece_length": result.piece_length,
            "scored_as": "whole_contigs" if result.whole_contigs else "pieces",
            "whole_identity": f"{result.whole_identity:.6f}",
            "whole_aligned_fraction": f"{result.whole_aligned_fraction:.6f}",
        }
    summary = identity.summarise(scores)
    identity.write_per_sequence_tsv(args.out, scores)
    identity.write_summary_tsv(args.summary, summary, extra)
    log.info(
        "%d sequences, %d aligned, median identity %.4f, mean %.4f",
        summary.sequences,
        summary.aligned,
        summary.median_identity,
        summary.mean_identity,
    )
    return 0
