"""Read and assembly identity exactly as DESIGN.md "Metrics" defines them (Wick et al. 2019).

Read identity: align with `minimap2 -x map-ont -c` keeping secondary and supplementary
alignments; every alignment has BLAST identity = matches / block length (PAF columns 10/11);
each read base takes the best identity of any alignment covering it; a read with more
than half of its bases uncovered scores 0, otherwise the mean over its covered bases.

Relative length: read aligned span / reference aligned span of the read's *best*
alignment, the one with the most matching bases (ties: higher identity). The best
alignment rather than a sum over pieces, because secondary alignments overlap and would
double count; it is the alignment that carries most of the read. Reads without any
alignment have no relative length (written as NA, left out of its median/mean).

Assembly identity: each contig is cut into consecutive 10,000 bp pieces (the trailing
partial piece dropped), pieces are aligned with `minimap2 -x map-ont -c` and scored like
reads. DESIGN.md names asm5, but asm5 stops aligning pieces below about 95 % identity, so
a 90 % miniasm draft scored 0 and a polished assembly whose racon windows were skipped
fell from 0.98 to 0 (a cliff); map-ont aligns pieces down to about 75 %, like reads, and
on assemblies of 98 % and more gives the same median as asm5 (0.9911 both on the demo's
polished assembly). A contig shorter than one piece contributes nothing. Only when the
whole assembly is shorter than one piece per contig (no piece at all, e.g. a tiny demo
genome) is each contig scored whole instead; `AssemblyIdentity.whole_contigs` says so
and the summary's `scored_as` column reads `whole_contigs`, so the fallback is never silent.

Where a sequence lies on the reference: target, start and end (0-based, end-exclusive) of
its best alignment, NA when unaligned; the report pairs assembly pieces of two assemblies
by it.

Whole-assembly identity, the measure without any cliff: every contig is aligned whole
(map-ont), each assembly base takes the best identity of the alignments covering it and
uncovered bases count 0, and the mean is taken over all assembly bases. A piece that
stops aligning thus lowers it by its share of the bases instead of turning a median
from 0.9 to 0, and unaligned (misassembled, junk) sequence always costs.

Summaries: plain median over all sequences (zeros included) and the mean. Identities
are fractions in [0, 1].
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelshrink.atomic import write_text_atomic
from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.minimap2 import PafAlignment, align_paf

log = logging.getLogger(__name__)

PIECE_LENGTH = 10_000
PIECE_PRESET = "map-ont"
PER_SEQUENCE_COLUMNS = (
    "name",
    "length",
    "identity",
    "relative_length",
    "target",
    "target_start",
    "target_end",
)
SUMMARY_COLUMNS = (
    "sequences",
    "aligned",
    "median_identity",
    "mean_identity",
    "median_relative_length",
    "mean_relative_length",
)


@dataclass(frozen=True)
class SequenceIdentity:
    """Identity of one read or assembly piece; relative_length and the best alignment's
    place on the reference (target, target_start, target_end) are None when unaligned."""

    name: str
    length: int
    identity: float
    relative_length: float | None
    target: str | None = None
    target_start: int | None = None
    target_end: int | None = None


@dataclass(frozen=True)
class IdentitySummary:
    sequences: int
    aligned: int
    median_identity: float
    mean_identity: float
    median_relative_length: float | None
    mean_relative_length: float | None


@dataclass(frozen=True)
class AssemblyIdentity:
    pieces: list[SequenceIdentity]
    piece_length: int
    whole_contigs: bool
    whole_identity: float  # mean over all assembly bases, uncovered bases 0
    whole_aligned_fraction: float  # assembly bases covered by an alignment


def best_identity_per_base(length: int, alignments: Sequence[PafAlignment]) -> np.ndarray:
    """For each of `length` query bases, the best identity of any alignment covering it (0:
    none)."""
    best_per_base = np.zeros(length, dtype=np.float64)
    for alignment in alignments:
        window = best_per_base[alignment.query_start : alignment.query_end]
        np.maximum(window, alignment.identity, out=window)
    return best_per_base


def best_alignment(alignments: Sequence[PafAlignment]) -> PafAlignment:
    """The alignment carrying most of a sequence: most matching bases, then identity."""
    return max(alignments, key=lambda a: (a.matches, a.identity))


def score_alignments(length: int, alignments: Sequence[PafAlignment]) -> tuple[float, float | None]:
    """Wick identity and relative length of one sequence of `length` bases."""
    if length <= 0 or not alignments:
        return 0.0, None
    best_per_base = best_identity_per_base(length, alignments)
    covered = best_per_base > 0.0
    covered_bases = int(covered.sum())
    best = best_alignment(alignments)
    relative_length = best.query_span / best.target_span if best.target_span else None
    if covered_bases * 2 < length:
        return 0.0, relative_length
    return float(best_per_base[covered].mean()), relative_length


def read_sequence_lengths(path: Path, what: str) -> list[tuple[str, int]]:
    """(name, length) of every record of a FASTA/FASTQ file (gzipped or not), in file order.

    Doubles as the input check: a missing, empty or unparsable file is reported here,
    before minimap2 runs. Sequences are not kept (a read set can be many gigabases).
    """
    return [(name, len(sequence)) for name, sequence in iter_sequences(path, what)]


def read_sequences(path: Path, what: str) -> list[tuple[str, str]]:
    """(name, sequence) of every record; for assemblies, which are small enough to hold."""
    return list(iter_sequences(path, what))


def iter_sequences(path: Path, what: str, limit: int | None = None) -> Iterator[tuple[str, str]]:
    """Records of a FASTA/FASTQ file with clear errors for missing, empty or bad files."""
    import pysam

    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"{what} file {path} does not exist (expected FASTA/FASTQ)")
    if path.stat().st_size == 0:
        raise ModelshrinkError(f"{what} file {path} is empty (expected FASTA/FASTQ records)")
    count = 0
    try:
        with pysam.FastxFile(str(path)) as records:
            for record in records:
                yield record.name, record.sequence or ""
                count += 1
                if limit is not None and count >= limit:
                    return
    except (OSError, ValueError) as error:
        raise ModelshrinkError(f"{what} file {path} is not valid FASTA/FASTQ: {error}") from error
    if count == 0:
        raise ModelshrinkError(f"{what} file {path} has no FASTA/FASTQ records")


def _check_reference(reference: Path) -> None:
    """Fail early on a missing/empty reference without reading a whole genome."""
    for _ in iter_sequences(reference, "reference", limit=1):
        pass


def _group_by_query(alignments: Iterable[PafAlignment]) -> dict[str, list[PafAlignment]]:
    grouped: dict[str, list[PafAlignment]] = defaultdict(list)
    for alignment in alignments:
        grouped[alignment.query].append(alignment)
    return grouped


def _score_all(
    lengths: Sequence[tuple[str, int]], alignments: dict[str, list[PafAlignment]]
) -> list[SequenceIdentity]:
    scores = []
    for name, length in lengths:
        own = alignments.get(name, ())
        identity, relative_length = score_alignments(length, own)
        place = best_alignment(own) if own else None
        scores.append(
            SequenceIdentity(
                name,
                length,
                identity,
                relative_length,
                place.target if place else None,
                place.target_start if place else None,
                place.target_end if place else None,
            )
        )
    return scores


def read_identity(reads: Path, reference: Path, threads: int = 1) -> list[SequenceIdentity]:
    """Score every read of `reads` against `reference`, in file order."""
    _check_reference(Path(reference))
    lengths = read_sequence_lengths(Path(reads), "reads")
    if len({name for name, _ in lengths}) != len(lengths):
        log.warning("%s: duplicate read names; their alignments are pooled per name", reads)
    alignments = _group_by_query(align_paf(Path(reference), Path(reads), "map-ont", threads))
    return _score_all(lengths, alignments)


def cut_pieces(
    contigs: Sequence[tuple[str, str]], piece_length: int = PIECE_LENGTH
) -> list[tuple[str, str]]:
    """Consecutive `piece_length` pieces of every contig, named `contig:start-end` (1-based)."""
    pieces = []
    for name, sequence in contigs:
        for start in range(0, len(sequence) - piece_length + 1, piece_length):
            end = start + piece_length
            pieces.append((f"{name}:{start + 1}-{end}", sequence[start:end]))
    return pieces


def whole_assembly_identity(
    contigs: Sequence[tuple[str, str]], alignments: dict[str, list[PafAlignment]]
) -> tuple[float, float]:
    """Mean best identity over all assembly bases (uncovered: 0) and the covered fraction."""
    total = matched = covered = 0.0
    for name, sequence in contigs:
        best = best_identity_per_base(len(sequence), alignments.get(name, ()))
        total += len(sequence)
        matched += float(best.sum())
        covered += float(np.count_nonzero(best))
    if not total:
        return 0.0, 0.0
    return matched / total, covered / total


def assembly_identity(
    assembly: Path, reference: Path, threads: int = 1, piece_length: int = PIECE_LENGTH
) -> AssemblyIdentity:
    """Cut `assembly` into pieces and score each like a read (map-ont alignments); also
    align the contigs whole for the whole-assembly identity."""
    _check_reference(Path(reference))
    contigs = read_sequences(Path(assembly), "assembly")
    pieces = cut_pieces(contigs, piece_length)
    whole_contigs = not pieces
    if whole_contigs:
        log.warning(
            "%s: every contig is shorter than %d bp, so no full piece exists; "
            "scoring each contig whole instead",
            assembly,
            piece_length,
        )
        pieces = [(name, sequence) for name, sequence in contigs if sequence]
    with tempfile.TemporaryDirectory(prefix="modelshrink-pieces-") as folder:
        pieces_fasta = Path(folder) / "pieces.fasta"
        pieces_fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in pieces))
        alignments = _group_by_query(
            align_paf(Path(reference), pieces_fasta, PIECE_PRESET, threads)
        )
    contig_alignments = _group_by_query(
        align_paf(Path(reference), Path(assembly), PIECE_PRESET, threads)
    )
    whole, aligned = whole_assembly_identity(contigs, contig_alignments)
    lengths = [(name, len(sequence)) for name, sequence in pieces]
    return AssemblyIdentity(
        _score_all(lengths, alignments), piece_length, whole_contigs, whole, aligned
    )


def summarise(scores: Sequence[SequenceIdentity]) -> IdentitySummary:
    """Plain median (zeros included) and mean identity; relative length over aligned ones."""
    if not scores:
        raise ModelshrinkError("no reads or pieces to summarise")
    identities = [score.identity for score in scores]
    relative = [s.relative_length for s in scores if s.relative_length is not None]
    return IdentitySummary(
        sequences=len(scores),
        aligned=sum(identity > 0 for identity in identities),
        median_identity=statistics.median(identities),
        mean_identity=statistics.fmean(identities),
        median_relative_length=statistics.median(relative) if relative else None,
        mean_relative_length=statistics.fmean(relative) if relative else None,
    )


def _format(value: float | int | str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def write_per_sequence_tsv(path: Path, scores: Sequence[SequenceIdentity]) -> None:
    """TSV with the PER_SEQUENCE_COLUMNS (NA where a sequence is unaligned)."""
    lines = ["\t".join(PER_SEQUENCE_COLUMNS)]
    lines += [
        "\t".join(_format(getattr(s, column)) for column in PER_SEQUENCE_COLUMNS) for s in scores
    ]
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_summary_tsv(
    path: Path, summary: IdentitySummary, extra: dict[str, str | int] | None = None
) -> None:
    """One-row TSV (header + values) so per-variant summaries concatenate into a table."""
    extra = extra or {}
    header = [*SUMMARY_COLUMNS, *extra]
    values = [_format(getattr(summary, column)) for column in SUMMARY_COLUMNS]
    values += [str(value) for value in extra.values()]
    write_text_atomic(path, "\t".join(header) + "\n" + "\t".join(values) + "\n")
