"""Text VCF records with their line numbers, so that every complaint can name the line.

Plain, gzip and bgzip VCFs are read alike: the comparison streams records in file order
and needs no index, so plain gzip serves as well as bgzip. BCF and other compressions are
refused with the command that converts them. Only the columns the comparison uses are
parsed (CHROM, POS, REF, ALT, FILTER and the first sample's GT); each is checked, and a bad
one is a ModelshrinkError naming the file, the line and what is wrong. (htslib would say
"truncated file" for most of these, and reads neither plain gzip nor bad lines.)
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from modelshrink.errors import ModelshrinkError

FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
SEQUENCE = frozenset("ACGTN")
AMBIGUOUS = frozenset("RYSWKMBDHV")  # IUPAC codes for more than one base (N aside)
SYMBOLIC = re.compile(r"<[^<>,]+>|\*")  # <DEL>, <INS>, <NON_REF>, ...; * = upstream deletion
BREAKEND = re.compile(
    r"[A-Za-z]+[\[\]][^\[\]]+[\[\]]|[\[\]][^\[\]]+[\[\]][A-Za-z]+|\.[A-Za-z]+|[A-Za-z]+\."
)
POSITION = re.compile(r"[0-9]+")
GENOTYPE_ALLELE = re.compile(r"[0-9]+|\.")
OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def allele_kind(allele: str) -> str | None:
    """What an allele is: `sequence` (A/C/G/T/N), `iupac` (ambiguity codes too), `symbolic`
    (<ID>, *, breakends), or None for something that is no VCF allele."""
    bases = set(allele.upper())
    if allele and bases <= SEQUENCE:
        return "sequence"
    if allele and bases <= SEQUENCE | AMBIGUOUS:
        return "iupac"
    if SYMBOLIC.fullmatch(allele) or BREAKEND.fullmatch(allele):
        return "symbolic"
    return None


@dataclass(frozen=True, slots=True)
class VcfRecord:
    """One data line: 1-based POS, uppercase REF and sequence ALTs, the first sample's GT."""

    line: int
    contig: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    passes: bool
    genotype: tuple[int | None, ...]

    @property
    def where(self) -> str:
        return f"{self.contig}:{self.pos} (line {self.line})"


class VcfReader:
    """Header on construction (samples, whether GT is declared), records by iteration."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.name = f"{what} VCF {self.path}"
        self._handle = _open(self.path, self.name)
        self._lines = self._numbered_lines()
        self.samples: list[str] = []
        self.has_gt = False
        self._columns = 0
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> VcfReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def error(self, line: int, problem: str) -> ModelshrinkError:
        return ModelshrinkError(f"{self.name} line {line}: {problem}")

    def _numbered_lines(self) -> Iterator[tuple[int, str]]:
        """Decoded lines with 1-based numbers; decompression errors name the last good line."""
        number = 0
        lines = iter(self._handle)
        while True:
            try:
                raw = next(lines, None)
            except (OSError, EOFError, zlib.error) as error:
                raise ModelshrinkError(
                    f"{self.name} is corrupt or truncated after line {number}: {error}"
                ) from error
            if raw is None:
                return
            number += 1
            if number == 1 and raw.startswith(b"BCF"):
                raise ModelshrinkError(
                    f"{self.name} is BCF; expected a text VCF: convert it with "
                    f"`bcftools view -Oz -o OUT.vcf.gz {self.path}`"
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.error(number, "is not text; expected a VCF") from None
            yield number, text.rstrip("\r\n")

    def _read_header(self) -> None:
        for number, text in self._lines:
            if text.startswith("##"):
                self.has_gt = self.has_gt or text.startswith("##FORMAT=<ID=GT,")
                continue
            if not text.startswith("#"):
                raise self.error(number, "a record before the '#CHROM' header line (is it a VCF?)")
            columns = text.split("\t")
            if tuple(columns[: len(FIXED_COLUMNS)]) != FIXED_COLUMNS:
                raise self.error(
                    number, f"header line should start with {' '.join(FIXED_COLUMNS)} (tabs)"
                )
            self.samples = columns[len(FIXED_COLUMNS) + 1 :]
            self._columns = len(columns)
            return
        raise ModelshrinkError(f"{self.name} has no '#CHROM' header line (is it a VCF?)")

    def __iter__(self) -> Iterator[VcfRecord]:
        for number, text in self._lines:
            if text.strip():
                yield self._parse(number, text)

    def _parse(self, number: int, text: str) -> VcfRecord:
        fields = text.split("\t")
        if len(fields) != self._columns:
            hint = " (spaces instead of tabs?)" if " " in text else ""
            raise self.error(
                number,
                f"{len(fields)} tab-separated columns, expected {self._columns} as in the "
                f"#CHROM line{hint}",
            )
        contig, pos, ref, alt = fields[0], fields[1], fields[3], fields[4]
        if not POSITION.fullmatch(pos) or int(pos) < 1:
            raise self.error(number, f"POS {pos!r} is not a positive integer")
        if allele_kind(ref) not in ("sequence", "iupac"):
            raise self.error(number, f"REF {ref!r} is not a DNA sequence")
        alts = () if alt == "." else tuple(alt.split(","))
        for allele in alts:
            if allele_kind(allele) is None:
                raise self.error(
                    number,
                    f"ALT allele {allele!r} is neither a DNA sequence nor symbolic "
                    "(<ID>, *, breakend)",
                )
        genotype = self._genotype(number, fields[8], fields[9], len(alts)) if self.samples else ()
        return VcfRecord(
            number,
            contig,
            int(pos),
            ref.upper(),
            tuple(a if allele_kind(a) == "symbolic" else a.upper() for a in alts),
            fields[6] in (".", "PASS"),
            genotype,
        )

    def _genotype(self, number: int, keys: str, values: str, alts: int) -> tuple[int | None, ...]:
        """GT of the first sample; () when absent (trailing sample fields may be dropped)."""
        names = keys.split(":")
        if "GT" not in names:
            return ()
        given = values.split(":")
        index = names.index("GT")
        text = given[index] if index < len(given) else "."
        alleles = re.split(r"[/|]", text)
        if not all(GENOTYPE_ALLELE.fullmatch(a) for a in alleles):
            raise self.error(number, f"GT {text!r} is not a genotype like 0/1, 1|0, 1 or .")
        genotype = tuple(None if a == "." else int(a) for a in alleles)
        if any(a is not None and a > alts for a in genotype):
            raise self.error(number, f"GT {text!r} names an allele beyond the {alts} ALT(s)")
        return genotype


def _open(path: Path, name: str) -> IO[bytes]:
    if not path.is_file():
        raise ModelshrinkError(f"{name} does not exist")
    with path.open("rb") as probe:
        start = probe.read(6)
    if not start:
        raise ModelshrinkError(f"{name} is empty")
    for magic, kind in OTHER_COMPRESSIONS.items():
        if start.startswith(magic):
            raise ModelshrinkError(
                f"{name} is {kind}-compressed; expected a plain, gzip or bgzip VCF: "
                f"recompress it with `{kind} -dc {path} | bgzip > OUT.vcf.gz`"
            )
    if start.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    return path.open("rb")
