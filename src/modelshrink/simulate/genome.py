"""Reference genomes: a seeded random one, or a user's FASTA checked before any work.

Sequences are plain upper-case `str` keyed by contig name (dicts keep file order).
A user's reference may contain N runs (gaps, masked sequence): simulated variants and
reads avoid them (see `acgt_segments`). Any other character (IUPAC codes such as R or Y,
digits, '-') is refused, because the pore model has no level for it and silently
replacing it would make the truth set lie.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError

BASES = "ACGT"
FASTA_LINE_WIDTH = 80
_NOT_ACGTN = re.compile(r"[^ACGTN]")
_ACGT_RUN = re.compile(r"[ACGT]+")


def random_genome(
    length: int, gc: float, rng: np.random.Generator, contigs: int = 1
) -> dict[str, str]:
    """i.i.d. bases with the requested GC fraction, split into `contigs` near-equal contigs.

    i.i.d. sequence has geometric homopolymer lengths, which is enough structure for
    the basecaller and the indel simulator's homopolymer cases.
    """
    if length <= 0:
        raise ModelshrinkError(f"genome length must be > 0 bases, got {length}")
    if not 0.0 <= gc <= 1.0:
        raise ModelshrinkError(f"genome gc must be a fraction in [0, 1], got {gc}")
    if contigs <= 0 or contigs > length:
        raise ModelshrinkError(f"genome contigs must be in 1..length ({length}), got {contigs}")
    probabilities = np.array([1 - gc, gc, gc, 1 - gc]) / 2.0
    codes = rng.choice(4, size=length, p=probabilities).astype(np.uint8)
    text = np.frombuffer(b"ACGT", dtype=np.uint8)[codes].tobytes().decode("ascii")
    bounds = np.linspace(0, length, contigs + 1).astype(int)
    return {
        f"contig_{index + 1}": text[start:end]
        for index, (start, end) in enumerate(itertools.pairwise(bounds))
    }


def validate_sequence(sequence: str, where: str) -> str:
    """Upper-cased sequence, or an error naming `where` and the first bad character."""
    sequence = sequence.upper()
    bad = _NOT_ACGTN.search(sequence)
    if bad is not None:
        raise ModelshrinkError(
            f"{where}: character {bad.group()!r} at position {bad.start() + 1}; expected only "
            "A, C, G, T or N (IUPAC ambiguity codes are not supported by the pore model)"
        )
    return sequence


def read_fasta(path: str | Path) -> dict[str, str]:
    """All contigs of a FASTA file, validated (ACGT plus N runs), in file order."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelshrinkError(f"cannot read FASTA file {path}: {error}") from error
    contigs: dict[str, list[str]] = {}
    name: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            name = line[1:].split()[0] if line[1:].split() else ""
            if not name or name in contigs:
                raise ModelshrinkError(
                    f"{path}:{number}: FASTA header {line!r} has an empty or repeated name"
                )
            contigs[name] = []
        elif name is None:
            raise ModelshrinkError(f"{path}:{number}: sequence before the first '>' header")
        else:
            contigs[name].append(line)
    if not contigs:
        raise ModelshrinkError(f"FASTA file {path} has no records (expected '>name' lines)")
    sequences = {
        name: validate_sequence("".join(lines), f"{path} contig {name}")
        for name, lines in contigs.items()
    }
    empty = [name for name, sequence in sequences.items() if not sequence]
    if empty:
        raise ModelshrinkError(f"FASTA file {path}: contig {empty[0]} has no sequence")
    return sequences


def write_fasta(path: str | Path, sequences: dict[str, str]) -> None:
    """Write contigs with fixed-width lines, atomically."""
    with atomic_output(path) as temporary, temporary.open("w") as handle:
        for name, sequence in sequences.items():
            handle.write(f">{name}\n")
            for start in range(0, len(sequence), FASTA_LINE_WIDTH):
                handle.write(sequence[start : start + FASTA_LINE_WIDTH] + "\n")


def acgt_segments(sequence: str, min_length: int = 1) -> list[tuple[int, int]]:
    """Half-open [start, end) runs of pure ACGT at least `min_length` long (N runs excluded)."""
    return [
        (match.start(), match.end())
        for match in _ACGT_RUN.finditer(sequence)
        if match.end() - match.start() >= min_length
    ]


_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)[::-1]
