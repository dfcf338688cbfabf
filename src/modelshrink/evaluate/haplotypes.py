"""Haplotype-level matching of truth and query variants, in the spirit of hap.py's xcmp and
RTG vcfeval.

Nearby truth and query variants are grouped into clusters. Within a cluster we look for the
largest subsets of truth and query variants whose alleles, applied to the reference, give
the same pair of haplotype sequences for some phasing of each side (phasing is free: the
inputs are unphased). Those variants are TP with match kind `gm` (genotype match). Of the
rest, the largest subsets that give the same single sequence when every allele is applied
(genotypes ignored) are allele matches `am`: FN in the truth and FP in the query, counted
as FP.gt. Remaining query variants are FP, `lm` (local mismatch, counted as FP.al) when the
cluster has truth variants, else `.`; remaining truth variants are FN.

The search is exhaustive over subsets, which is exact and cheap for the small clusters real
call sets have; clusters beyond MAX_EXHAUSTIVE variants per side fall back to matching
identical normalised records.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from modelshrink.evaluate.genomic_variants import Variant

log = logging.getLogger(__name__)

CLUSTER_GAP = 10
MAX_EXHAUSTIVE = 7


def clusters(
    truth: Sequence[Variant], query: Sequence[Variant]
) -> Iterable[tuple[list[Variant], list[Variant]]]:
    """Group variants of one contig whose (shiftable) spans lie within CLUSTER_GAP bases."""
    tagged = sorted(
        [(min(v.start, v.hap_start), 0, i) for i, v in enumerate(truth)]
        + [(min(v.start, v.hap_start), 1, i) for i, v in enumerate(query)]
    )
    current: tuple[list[Variant], list[Variant]] = ([], [])
    current_end = -1
    for low, side, index in tagged:
        variant = truth[index] if side == 0 else query[index]
        if (current[0] or current[1]) and low > current_end + CLUSTER_GAP:
            yield current
            current, current_end = ([], []), -1
        current[side].append(variant)
        current_end = max(current_end, variant.right, variant.hap_end, variant.end)
    if current[0] or current[1]:
        yield current


def apply_alleles(
    sequence: str, window: tuple[int, int], variants: Sequence[Variant]
) -> str | None:
    """The window's sequence with `variants` applied, or None if two of them collide."""
    start, end = window
    pieces = []
    position = start
    last_insertion = -1
    for v in sorted(variants, key=lambda v: (v.hap_start, v.hap_end)):
        if v.hap_start < position or (not v.hap_ref and v.hap_start == last_insertion):
            return None
        pieces.append(sequence[position : v.hap_start])
        pieces.append(v.hap_alt)
        position = v.hap_end
        if not v.hap_ref:
            last_insertion = v.hap_start
    pieces.append(sequence[position:end])
    return "".join(pieces)


def haplotype_pairs(
    sequence: str, window: tuple[int, int], variants: Sequence[Variant]
) -> set[tuple[str, str]]:
    """Every unordered pair of haplotypes the unphased diploid `variants` can produce."""
    both = [v for v in variants if not v.is_het]
    hets = [v for v in variants if v.is_het]
    pairs: set[tuple[str, str]] = set()
    # the first het's copy is fixed: swapping all copies gives the same unordered pair
    for assignment in itertools.product((0, 1), repeat=max(len(hets) - 1, 0)):
        first = both + [h for h, side in zip(hets, (0, *assignment), strict=False) if side == 0]
        second = both + [h for h, side in zip(hets, (0, *assignment), strict=False) if side == 1]
        one = apply_alleles(sequence, window, first)
        two = apply_alleles(sequence, window, second)
        if one is not None and two is not None:
            pairs.add((one, two) if one <= two else (two, one))
    return pairs


def _subsets(variants: Sequence[Variant]) -> Iterable[tuple[Variant, ...]]:
    for size in range(len(variants), 0, -1):
        yield from itertools.combinations(variants, size)


Pairing = tuple[tuple[Variant, ...], tuple[Variant, ...]]


def _best_match(
    truth: Sequence[Variant],
    query: Sequence[Variant],
    signatures: Callable[[Sequence[Variant]], set],
) -> Pairing:
    """Largest (truth subset, query subset) sharing a signature; signatures(subset) -> set."""
    by_signature: dict[object, tuple[Variant, ...]] = {}
    for subset in _subsets(truth):
        for signature in signatures(subset):
            by_signature.setdefault(signature, subset)  # larger subsets come first
    best: Pairing = ((), ())
    for subset in _subsets(query):
        if len(subset) + len(truth) <= len(best[0]) + len(best[1]):
            break
        for signature in signatures(subset):
            match = by_signature.get(signature)
            if match is not None and len(match) + len(subset) > len(best[0]) + len(best[1]):
                best = (match, subset)
    return best


def _same_records(truth: Sequence[Variant], query: Sequence[Variant]) -> bool:
    def multiset(variants: Sequence[Variant]) -> Counter:
        return Counter((v.key, tuple(sorted(v.genotype))) for v in variants)

    return multiset(truth) == multiset(query)


def match_cluster(sequence: str, truth: list[Variant], query: list[Variant]) -> None:
    """Set decision/match_kind on every variant of one cluster."""
    for v in truth:
        v.decision, v.match_kind = "FN", "."
    for v in query:
        v.decision, v.match_kind = "FP", "."
    if truth and query and _same_records(truth, query):
        matched_truth, matched_query = tuple(truth), tuple(query)
        allele_truth: tuple[Variant, ...] = ()
        allele_query: tuple[Variant, ...] = ()
    elif truth and query and max(len(truth), len(query)) <= MAX_EXHAUSTIVE:
        members = (*truth, *query)
        window = (
            max(min(min(v.hap_start, v.start) for v in members) - 1, 0),
            max(max(v.hap_end, v.end) for v in members) + 1,
        )
        matched_truth, matched_query = _best_match(
            truth, query, lambda subset: haplotype_pairs(sequence, window, subset)
        )
        rest_truth = [v for v in truth if v not in matched_truth]
        rest_query = [v for v in query if v not in matched_query]

        def squashed(subset: Sequence[Variant]) -> set[str]:
            applied = apply_alleles(sequence, window, subset)
            return set() if applied is None else {applied}

        allele_truth, allele_query = (
            _best_match(rest_truth, rest_query, squashed) if rest_truth and rest_query else ((), ())
        )
    else:
        if truth and query:
            log.debug(
                "cluster of %d truth / %d query variants: exact record matching",
                len(truth),
                len(query),
            )
        matched_truth, matched_query, allele_truth, allele_query = _match_records(truth, query)
    for v in matched_truth + matched_query:
        v.decision, v.match_kind = "TP", "gm"
    for v in allele_truth + allele_query:
        v.match_kind = "am"
    for v in query:
        if v.decision == "FP" and v.match_kind == "." and truth:
            v.match_kind = "lm"
    for v in truth:
        if v.decision == "FN" and v.match_kind == "." and query:
            v.match_kind = "lm"


def _match_records(
    truth: Sequence[Variant], query: Sequence[Variant]
) -> tuple[tuple[Variant, ...], ...]:
    """Fallback for very large clusters: identical normalised records only."""
    matched_truth, matched_query, allele_truth, allele_query = [], [], [], []
    unused = list(query)
    for v in truth:
        same = [q for q in unused if q.key == v.key]
        exact = [q for q in same if sorted(q.genotype) == sorted(v.genotype)]
        if exact:
            matched_truth.append(v)
            matched_query.append(exact[0])
            unused.remove(exact[0])
        elif same:
            allele_truth.append(v)
            allele_query.append(same[0])
            unused.remove(same[0])
    return tuple(matched_truth), tuple(matched_query), tuple(allele_truth), tuple(allele_query)


def match_contig(sequence: str, truth: Sequence[Variant], query: Sequence[Variant]) -> None:
    """Annotate all variants of one contig with TP/FP/FN and gm/am/lm."""
    for cluster_truth, cluster_query in clusters(truth, query):
        match_cluster(sequence, cluster_truth, cluster_query)
