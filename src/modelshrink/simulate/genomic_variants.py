"""Truth variants for a haploid sample: SNPs and 1-10 bp indels, some in homopolymers.

Every variant is written in its left-aligned, VCF-normal form (indels carry the base
before them as anchor), so `bcftools norm` leaves the truth VCF unchanged and callers'
output compares record for record. Variants never overlap and keep `min_gap` bases of
untouched sequence between the whole stretch an indel could slide over (its repeat
context), so applying them in any order gives the same sample genome and no two
variants merge into one haplotype event. Variants avoid N runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.genome import BASES, acgt_segments

MAX_ATTEMPTS_PER_VARIANT = 200
HOMOPOLYMER_MIN_RUN = 3


@dataclass(frozen=True)
class Variant:
    """One VCF record: `pos` is 0-based (VCF POS - 1); `ref`/`alt` include the anchor base."""

    chrom: str
    pos: int
    ref: str
    alt: str
    homopolymer: bool = False

    @property
    def kind(self) -> str:
        return "SNP" if len(self.ref) == len(self.alt) == 1 else "INDEL"


def _indel_length(rng: np.random.Generator, max_length: int) -> int:
    """Short indels dominate in real genomes: P(k) proportional to k^-1.5."""
    lengths = np.arange(1, max_length + 1)
    weights = lengths**-1.5
    return int(rng.choice(lengths, p=weights / weights.sum()))


def _left_align_deletion(sequence: str, start: int, length: int) -> tuple[int, int]:
    """Leftmost start of deleting `length` bases at `start`, and the end of the slide range."""
    left = start
    while left > 0 and sequence[left - 1] == sequence[left + length - 1]:
        left -= 1
    right = start
    while right + length < len(sequence) and sequence[right] == sequence[right + length]:
        right += 1
    return left, right + length


def _left_align_insertion(sequence: str, start: int, inserted: str) -> tuple[int, str, int]:
    """Leftmost insertion point, the rotated inserted bases there, and the slide range end."""
    left = start
    while left > 0 and sequence[left - 1] == inserted[-1]:
        inserted = inserted[-1] + inserted[:-1]
        left -= 1
    right, rotated = left, inserted
    while right < len(sequence) and sequence[right] == rotated[0]:
        rotated = rotated[1:] + rotated[0]
        right += 1
    return left, inserted, right


def _homopolymer_runs(sequence: str) -> np.ndarray:
    """[start, end) of homopolymer runs of at least HOMOPOLYMER_MIN_RUN pure-ACGT bases."""
    codes = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    if codes.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    change = np.flatnonzero(np.diff(codes) != 0) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [codes.size]])
    keep = (ends - starts >= HOMOPOLYMER_MIN_RUN) & (codes[starts] != ord("N"))
    return np.stack([starts[keep], ends[keep]], axis=1)


class _Placer:
    """Draws candidate variants on one genome and keeps the ones that fit."""

    def __init__(self, reference: dict[str, str], rng: np.random.Generator, min_gap: int):
        self.reference = reference
        self.rng = rng
        self.min_gap = min_gap
        self.taken = {name: np.zeros(len(seq) + 1, dtype=bool) for name, seq in reference.items()}
        self.names = list(reference)
        segments = [acgt_segments(reference[name]) for name in self.names]
        self.segments = segments
        weights = np.array([sum(end - start for start, end in segs) for segs in segments], float)
        self.contig_weights = weights / weights.sum()
        self.runs = [_homopolymer_runs(reference[name]) for name in self.names]

    def _random_position(self) -> tuple[str, int]:
        index = int(self.rng.choice(len(self.names), p=self.contig_weights))
        segments = self.segments[index]
        lengths = np.array([end - start for start, end in segments], float)
        start, end = segments[int(self.rng.choice(len(segments), p=lengths / lengths.sum()))]
        return self.names[index], int(self.rng.integers(start, end))

    def _claim(self, chrom: str, start: int, end: int) -> bool:
        """Reserve [start, end) if it is pure ACGT and `min_gap` away from other variants."""
        sequence = self.reference[chrom]
        if start < 0 or end > len(sequence) or "N" in sequence[start:end]:
            return False
        taken = self.taken[chrom]
        if taken[max(0, start - self.min_gap) : end + self.min_gap].any():
            return False
        taken[start:end] = True
        return True

    def snp(self) -> Variant | None:
        chrom, pos = self._random_position()
        ref = self.reference[chrom][pos]
        if not self._claim(chrom, pos, pos + 1):
            return None
        alt = self.rng.choice([base for base in BASES if base != ref])
        return Variant(chrom, pos, ref, str(alt))

    def indel(self, max_length: int, in_homopolymer: bool) -> Variant | None:
        if in_homopolymer:
            index = int(self.rng.choice(len(self.names), p=self.contig_weights))
            runs = self.runs[index]
            if len(runs) == 0:
                return None
            chrom = self.names[index]
            run_start, run_end = (int(x) for x in runs[int(self.rng.integers(len(runs)))])
            base = self.reference[chrom][run_start]
            length = int(self.rng.integers(1, min(2, run_end - run_start - 1, max_length) + 1))
            deletion = bool(self.rng.integers(2))
            return self._indel(chrom, run_start, length, deletion, base * length, True)
        chrom, pos = self._random_position()
        length = _indel_length(self.rng, max_length)
        deletion = bool(self.rng.integers(2))
        inserted = "".join(self.rng.choice(list(BASES), size=length))
        return self._indel(chrom, pos, length, deletion, inserted, False)

    def _indel(
        self, chrom: str, pos: int, length: int, deletion: bool, inserted: str, homopolymer: bool
    ) -> Variant | None:
        sequence = self.reference[chrom]
        if deletion:
            if pos + length > len(sequence):
                return None
            left, slide_end = _left_align_deletion(sequence, pos, length)
            if left < 1 or not self._claim(chrom, left - 1, slide_end + 1):
                return None
            ref = sequence[left - 1 : left + length]
            return Variant(chrom, left - 1, ref, sequence[left - 1], homopolymer)
        left, inserted, slide_end = _left_align_insertion(sequence, pos, inserted)
        if left < 1 or not self._claim(chrom, left - 1, slide_end + 1):
            return None
        anchor = sequence[left - 1]
        return Variant(chrom, left - 1, anchor, anchor + inserted, homopolymer)


def simulate_variants(
    reference: dict[str, str],
    snps: int,
    indels: int,
    rng: np.random.Generator,
    max_indel: int = 10,
    homopolymer_fraction: float = 0.3,
    min_gap: int = 10,
) -> list[Variant]:
    """Random non-overlapping, left-aligned truth variants, sorted by contig order and position.

    Raises ModelshrinkError before drawing anything when the requested number cannot fit
    (each variant needs at least `min_gap` + 1 bases of ACGT sequence), and after
    MAX_ATTEMPTS_PER_VARIANT failed draws for one variant (a genome too crowded to finish).
    """
    if snps < 0 or indels < 0:
        raise ModelshrinkError(f"variant counts must be >= 0, got snps={snps} indels={indels}")
    if not 1 <= max_indel <= 50:
        raise ModelshrinkError(f"max_indel must be in 1..50 bases, got {max_indel}")
    if not 0.0 <= homopolymer_fraction <= 1.0:
        raise ModelshrinkError(
            f"homopolymer_fraction must be a fraction in [0, 1], got {homopolymer_fraction}"
        )
    usable = sum(end - start for seq in reference.values() for start, end in acgt_segments(seq))
    capacity = usable // (min_gap + 2 + max_indel // 2)
    if snps + indels > capacity:
        raise ModelshrinkError(
            f"cannot place {snps + indels} variants in {usable} bases of ACGT sequence: at most "
            f"about {capacity} fit with min_gap {min_gap} and max_indel {max_indel}"
        )
    placer = _Placer(reference, rng, min_gap)
    variants: list[Variant] = []
    plan = ["snp"] * snps + ["indel"] * indels
    for what in plan:
        for _ in range(MAX_ATTEMPTS_PER_VARIANT):
            if what == "snp":
                variant = placer.snp()
            else:
                variant = placer.indel(max_indel, rng.random() < homopolymer_fraction)
            if variant is not None:
                variants.append(variant)
                break
        else:
            raise ModelshrinkError(
                f"could place only {len(variants)} of {snps + indels} variants after "
                f"{MAX_ATTEMPTS_PER_VARIANT} tries for the next one; ask for fewer variants, "
                "a smaller min_gap or a longer genome"
            )
    order = {name: index for index, name in enumerate(reference)}
    return sorted(variants, key=lambda v: (order[v.chrom], v.pos))


def apply_variants(reference: dict[str, str], variants: list[Variant]) -> dict[str, str]:
    """The sample genome: each contig with its (non-overlapping) variants substituted."""
    by_contig: dict[str, list[Variant]] = {name: [] for name in reference}
    for variant in variants:
        if variant.chrom not in reference:
            raise ModelshrinkError(f"variant on contig {variant.chrom!r} absent from reference")
        by_contig[variant.chrom].append(variant)
    sample = {}
    for name, sequence in reference.items():
        pieces, cursor = [], 0
        for variant in sorted(by_contig[name], key=lambda v: v.pos):
            if variant.pos < cursor or sequence[variant.pos : variant.pos + len(variant.ref)] != (
                variant.ref
            ):
                raise ModelshrinkError(
                    f"variant {name}:{variant.pos + 1} {variant.ref}>{variant.alt} overlaps "
                    "another or does not match the reference"
                )
            pieces.append(sequence[cursor : variant.pos])
            pieces.append(variant.alt)
            cursor = variant.pos + len(variant.ref)
        pieces.append(sequence[cursor:])
        sample[name] = "".join(pieces)
    return sample


def vcf_text(reference: dict[str, str], variants: list[Variant], sample_name: str) -> str:
    """Plain-text VCF 4.2 with haploid GT 1 for every record."""
    lines = [
        "##fileformat=VCFv4.2",
        "##source=modelshrink simulate variants",
        *(f"##contig=<ID={name},length={len(seq)}>" for name, seq in reference.items()),
        '##INFO=<ID=TYPE,Number=1,Type=String,Description="SNP or INDEL">',
        '##INFO=<ID=HP,Number=0,Type=Flag,Description="Indel inside a homopolymer run">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype (haploid)">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample_name]
        ),
    ]
    for v in variants:
        info = f"TYPE={v.kind}" + (";HP" if v.homopolymer else "")
        lines.append(f"{v.chrom}\t{v.pos + 1}\t.\t{v.ref}\t{v.alt}\t.\tPASS\t{info}\tGT\t1")
    return "\n".join(lines) + "\n"


def write_truth_vcf(
    path: str | Path, reference: dict[str, str], variants: list[Variant], sample_name: str
) -> None:
    """bgzipped + tabix-indexed truth VCF (`path` ends in .vcf.gz; index at path + .tbi)."""
    import pysam

    path = Path(path)
    if not path.name.endswith(".vcf.gz"):
        raise ModelshrinkError(f"truth VCF path {path} must end in .vcf.gz (bgzipped output)")
    with atomic_output(path, suffix=".vcf.gz") as temporary:
        plain = temporary.with_name(temporary.name[: -len(".gz")])
        try:
            plain.write_text(vcf_text(reference, variants, sample_name))
            pysam.tabix_compress(str(plain), str(temporary), force=True)
        finally:
            plain.unlink(missing_ok=True)
        index = Path(f"{temporary}.tbi")
        pysam.tabix_index(str(temporary), preset="vcf", force=True, index=str(index))
        os.replace(index, f"{path}.tbi")
