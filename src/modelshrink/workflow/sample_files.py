"""The files a sample sheet names, checked by their content when the workflow starts.

Why sniff at startup: a plain-gzip truth VCF, a VCF given as the reference or a reads
folder without a single fast5/pod5 file all pass a "the path exists" check and fail
only inside a job (samtools faidx, tabix, the basecaller), possibly after hours of
basecalling and assembly. Each check reads a few bytes (a folder: until its first read
file), so the workflow runs them for every sample on every start.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from pathlib import Path

from modelshrink.basecaller.signal.discover import READ_SUFFIXES
from modelshrink.errors import ModelshrinkError

#: How much of a file (decompressed) is read to find its first line.
SNIFF_CHARACTERS = 4096
#: How much of that line a message quotes.
QUOTED_CHARACTERS = 80


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def is_bgzf(path: Path) -> bool:
    """htslib's block gzip: a gzip header with one 6-byte extra field 'BC' (the block
    size), the test htslib itself applies (bgzf.c); tabix and faidx need it."""
    with path.open("rb") as handle:
        header = handle.read(14)
    return (
        len(header) == 14
        and header[:4] == b"\x1f\x8b\x08\x04"
        and header[10:12] == b"\x06\x00"
        and header[12:14] == b"BC"
    )


def first_line(path: Path) -> str:
    """The first non-empty line of the file's start (decompressed when gzipped)."""
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", errors="replace") as handle:
            start = handle.read(SNIFF_CHARACTERS)
    except (OSError, EOFError) as error:  # a truncated or corrupt gzip stream
        raise ModelshrinkError(f"{path} is not readable: {error}") from error
    return next((line.strip() for line in start.splitlines() if line.strip()), "")


def check_reads(path: Path) -> None:
    """A .fast5/.pod5 file, or a folder holding at least one (searched recursively, as
    the basecaller searches it)."""
    expected = "expected a .fast5 or .pod5 file or a folder of them"
    if path.is_file():
        if path.suffix not in READ_SUFFIXES:
            raise ModelshrinkError(f"{path} is neither .fast5 nor .pod5; {expected}")
        return
    if not any(found.suffix in READ_SUFFIXES for found in path.glob("**/*")):
        raise ModelshrinkError(
            f"{path} holds no .fast5 or .pod5 file (searched recursively); {expected}"
        )


def check_fasta(path: Path) -> None:
    """An uncompressed FASTA file (its first line a '>' header): the workflow copies it
    to `results/reference/{sample}.fasta`, which every tool reads as plain FASTA."""
    if is_gzip(path):
        raise ModelshrinkError(f"{path} is gzipped; expected an uncompressed FASTA (gunzip it)")
    line = first_line(path)
    if not line.startswith(">"):
        raise ModelshrinkError(
            f"{path} is not FASTA: it starts {line[:QUOTED_CHARACTERS]!r}; expected a FASTA "
            f"file whose first line is a '>' header"
        )


def check_vcf(path: Path) -> None:
    """A VCF, uncompressed or bgzipped (plain gzip cannot be indexed by tabix)."""
    if is_gzip(path) and not is_bgzf(path):
        raise ModelshrinkError(
            f"{path} is compressed with plain gzip; expected bgzip (htslib's block gzip) "
            f"or no compression: zcat {path} | bgzip > truth.vcf.gz && tabix -p vcf truth.vcf.gz"
        )
    line = first_line(path)
    if not line.startswith("##fileformat=VCF"):
        raise ModelshrinkError(
            f"{path} is not VCF: it starts {line[:QUOTED_CHARACTERS]!r}; expected a VCF "
            f"whose first line is '##fileformat=VCFv4.x'"
        )


#: sample sheet column -> the check of the file it names
SAMPLE_FILE_CHECKS: dict[str, Callable[[Path], None]] = {
    "reads": check_reads,
    "reference": check_fasta,
    "truth_vcf": check_vcf,
}


def check_sample_files(row: Mapping[str, str]) -> None:
    """Every file a sample sheet row names exists and holds what its column expects;
    the message starts with the column."""
    for column, check in SAMPLE_FILE_CHECKS.items():
        if not row.get(column):
            continue
        path = Path(row[column])
        if not path.exists():
            raise ModelshrinkError(f"{column} path {path} does not exist")
        try:
            check(path)
        except ModelshrinkError as error:
            raise ModelshrinkError(f"{column} {error}") from error
        except OSError as error:  # e.g. a folder where a file is expected
            raise ModelshrinkError(f"{column} {path} is not readable: {error.strerror}") from error
