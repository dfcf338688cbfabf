"""Small variants normalised so that equal changes look equal, whatever the VCF wrote.

Every ALT allele of a record becomes one `Variant` (multi-allelics split, as
`bcftools norm -m-` does), shared prefix/suffix bases are trimmed, indels are left-aligned
in the reference, and MNPs are decomposed into the SNPs they are made of (hap.py counts
"single nucleotides that have changed"). Complex alleles (unequal length, nothing shared)
stay whole and are counted as INDEL, as hap.py does.

Each variant also keeps its trimmed but *unshifted* form (`hap_*`): haplotypes are built
from that one, because left-shifting an indel past a nearby SNP on the same haplotype
would change the haplotype. Coordinates are 0-based; `ref`/`alt` may be empty (pure
insertion/deletion without an anchor base).
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSITIONS = frozenset({("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")})


@dataclass(slots=True, eq=False)
class Variant:
    """One normalised allele of one VCF record, with its genotype as two copy flags.

    Compared by identity (eq=False): two identical records in a file are two variants.
    """

    contig: str
    start: int
    ref: str
    alt: str
    genotype: tuple[int, int]  # (1, 1) hom-alt, (0, 1) / (1, 0) het
    passes: bool
    record: int  # index of the VCF record it came from, in file order
    hap_start: int
    hap_ref: str
    hap_alt: str
    right: int  # end of the span over which the variant could be shifted (clustering)
    decision: str = "N"  # TP, FP, FN, UNK, N (GA4GH BD)
    match_kind: str = "."  # gm, am, lm, . (GA4GH BK)

    @property
    def end(self) -> int:
        return self.start + len(self.ref)

    @property
    def hap_end(self) -> int:
        return self.hap_start + len(self.hap_ref)

    @property
    def kind(self) -> str:
        """hap.py's Type: SNP for single-base substitutions, INDEL for everything else."""
        return "SNP" if len(self.ref) == 1 and len(self.alt) == 1 else "INDEL"

    @property
    def is_transition(self) -> bool:
        return (self.ref.upper(), self.alt.upper()) in TRANSITIONS

    @property
    def is_het(self) -> bool:
        return self.genotype[0] != self.genotype[1]

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.start, self.ref, self.alt)

    @property
    def anchor(self) -> int:
        """Position used for region tests: the base before a pure insertion, else start."""
        return max(self.start - 1, 0) if not self.ref else self.start


def trim_alleles(start: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop bases shared at the end, then at the start (moving `start` right)."""
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt, start = ref[1:], alt[1:], start + 1
    return start, ref, alt


def left_align(sequence: str, start: int, allele: str) -> tuple[int, str]:
    """Shift an inserted/deleted `allele` at `start` as far left as the reference allows."""
    while start > 0 and sequence[start - 1] == allele[-1]:
        allele = sequence[start - 1] + allele[:-1]
        start -= 1
    return start, allele


def right_limit(sequence: str, start: int, allele: str, deletion: bool) -> int:
    """End coordinate of the rightmost equivalent placement of an indel."""
    offset = len(allele) if deletion else 0
    while start + offset < len(sequence) and sequence[start + offset] == allele[0]:
        allele = allele[1:] + sequence[start + offset]
        start += 1
    return start + offset


def normalise_allele(
    sequence: str, start: int, ref: str, alt: str
) -> list[tuple[int, str, str, int, str, str, int]]:
    """Primitive changes of one REF/ALT pair: (start, ref, alt, hap_start, hap_ref, hap_alt,
    right) tuples; empty when ALT equals REF."""
    start, ref, alt = trim_alleles(start, ref, alt)
    if not ref and not alt:
        return []
    if len(ref) == len(alt):
        return [
            (start + i, r, a, start + i, r, a, start + i + 1)
            for i, (r, a) in enumerate(zip(ref, alt, strict=True))
            if r != a
        ]
    if ref and alt:  # complex: kept whole
        return [(start, ref, alt, start, ref, alt, start + len(ref))]
    deletion = bool(ref)
    shifted, allele = left_align(sequence, start, ref or alt)
    right = right_limit(sequence, start, ref or alt, deletion)
    new_ref, new_alt = (allele, "") if deletion else ("", allele)
    return [(shifted, new_ref, new_alt, start, ref, alt, right)]
