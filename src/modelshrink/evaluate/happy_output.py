"""hap.py-compatible outputs: summary.csv (hap.py's columns, in its order), a metrics JSON
with the same numbers, and an annotated VCF with GA4GH-style BD/BK FORMAT fields.

The column list is that of hap.py v0.3.x's `<prefix>.summary.csv`; rows come in hap.py's
order INDEL ALL, INDEL PASS, SNP ALL, SNP PASS. Undefined ratios (0/0) are written empty,
as hap.py writes NaN ratios.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelshrink.atomic import write_text_atomic
from modelshrink.evaluate.genomic_variants import Variant
from modelshrink.evaluate.reference import ReferenceGenome

SUMMARY_COLUMNS = (
    "Type",
    "Filter",
    "TRUTH.TOTAL",
    "TRUTH.TP",
    "TRUTH.FN",
    "QUERY.TOTAL",
    "QUERY.FP",
    "QUERY.UNK",
    "FP.gt",
    "FP.al",
    "METRIC.Recall",
    "METRIC.Precision",
    "METRIC.Frac_NA",
    "METRIC.F1_Score",
    "TRUTH.TOTAL.TiTv_ratio",
    "QUERY.TOTAL.TiTv_ratio",
    "TRUTH.TOTAL.het_hom_ratio",
    "QUERY.TOTAL.het_hom_ratio",
)
TYPES = ("INDEL", "SNP")
FILTERS = ("ALL", "PASS")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass
class Counts:
    """Tallies for one variant type under one filter setting."""

    truth_tp: int = 0
    truth_fn: int = 0
    query_tp: int = 0
    query_fp: int = 0
    query_unk: int = 0
    fp_gt: int = 0
    fp_al: int = 0
    truth_ti: int = 0
    truth_tv: int = 0
    query_ti: int = 0
    query_tv: int = 0
    truth_het: int = 0
    truth_hom: int = 0
    query_het: int = 0
    query_hom: int = 0

    def add_truth(self, v: Variant) -> None:
        if v.decision == "TP":
            self.truth_tp += 1
        else:
            self.truth_fn += 1
        self._describe(v, "truth")

    def add_query(self, v: Variant) -> None:
        if v.decision == "TP":
            self.query_tp += 1
        elif v.decision == "UNK":
            self.query_unk += 1
        else:
            self.query_fp += 1
            self.fp_gt += v.match_kind == "am"
            self.fp_al += v.match_kind == "lm"
        self._describe(v, "query")

    def _describe(self, v: Variant, side: str) -> None:
        if v.kind == "SNP":
            name = f"{side}_ti" if v.is_transition else f"{side}_tv"
            setattr(self, name, getattr(self, name) + 1)
        name = f"{side}_het" if v.is_het else f"{side}_hom"
        setattr(self, name, getattr(self, name) + 1)

    def row(self, kind: str, filter_name: str) -> dict[str, str | int | float]:
        truth_total = self.truth_tp + self.truth_fn
        query_total = self.query_tp + self.query_fp + self.query_unk
        recall = _ratio(self.truth_tp, truth_total)
        precision = _ratio(self.query_tp, self.query_tp + self.query_fp)
        f1 = _ratio(2 * precision * recall, precision + recall)
        snp = kind == "SNP"
        values = (
            kind,
            filter_name,
            truth_total,
            self.truth_tp,
            self.truth_fn,
            query_total,
            self.query_fp,
            self.query_unk,
            self.fp_gt,
            self.fp_al,
            recall,
            precision,
            _ratio(self.query_unk, query_total),
            f1,
            _ratio(self.truth_ti, self.truth_tv) if snp else math.nan,
            _ratio(self.query_ti, self.query_tv) if snp else math.nan,
            _ratio(self.truth_het, self.truth_hom),
            _ratio(self.query_het, self.query_hom),
        )
        return dict(zip(SUMMARY_COLUMNS, values, strict=True))


def count(truth: Iterable[Variant], query: Iterable[Variant]) -> dict[str, Counts]:
    """Counts per type; truth variants marked UNK (outside confident regions) are skipped."""
    counts = {kind: Counts() for kind in TYPES}
    for v in truth:
        if v.decision != "UNK":
            counts[v.kind].add_truth(v)
    for v in query:
        counts[v.kind].add_query(v)
    return counts


def _csv_value(value: str | int | float) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return str(value)


def write_summary_csv(path: Path, rows: Sequence[dict]) -> None:
    lines = [",".join(SUMMARY_COLUMNS)]
    lines += [",".join(_csv_value(row[c]) for c in SUMMARY_COLUMNS) for row in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_metrics_json(path: Path, rows: Sequence[dict], parameters: dict, inputs: dict) -> None:
    """The summary rows as JSON (NaN as null), with the run's parameters and `inputs`, what
    was read and skipped per input VCF."""

    def clean(value):
        return None if isinstance(value, float) and math.isnan(value) else value

    document = {
        "parameters": parameters,
        "inputs": inputs,
        "summary": [{key: clean(value) for key, value in row.items()} for row in rows],
    }
    write_text_atomic(path, json.dumps(document, indent=2) + "\n")


FORMAT_HEADER = (
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=BD,Number=1,Type=String,Description="Decision for call (TP/FP/FN/N/UNK)">',
    '##FORMAT=<ID=BK,Number=1,Type=String,Description="Sub-type for decision '
    '(match/mismatch type): gm genotype match, am allele match, lm local match, . none">',
    '##FORMAT=<ID=BVT,Number=1,Type=String,Description="High-level variant type '
    '(SNP|INDEL|NOCALL)">',
    '##FORMAT=<ID=BLT,Number=1,Type=String,Description="High-level genotype type '
    '(het|homalt|nocall)">',
)


def _vcf_alleles(sequence: str, v: Variant) -> tuple[int, str, str]:
    """1-based POS, REF, ALT with an anchor base for pure indels (VCF needs one)."""
    if v.ref and v.alt:
        return v.start + 1, v.ref, v.alt
    if v.start > 0:
        base = sequence[v.start - 1]
        return v.start, base + v.ref, base + v.alt
    base = sequence[v.end]
    return 1, v.ref + base, v.alt + base


def _sample(v: Variant | None) -> str:
    if v is None:
        return "./.:N:.:NOCALL:nocall"
    genotype = "0/1" if v.is_het else "1/1"
    return f"{genotype}:{v.decision}:{v.match_kind}:{v.kind}:{'het' if v.is_het else 'homalt'}"


def write_annotated_vcf(
    path: Path, reference: ReferenceGenome, truth: Sequence[Variant], query: Sequence[Variant]
) -> None:
    """bgzipped, tabix-indexed VCF with samples TRUTH and QUERY, one line per normalised
    allele; a truth and query allele with the same normalised form share a line."""
    import pysam

    lines = ["##fileformat=VCFv4.2", *FORMAT_HEADER]
    lines += [f"##contig=<ID={name},length={length}>" for name, length in reference.lengths.items()]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTRUTH\tQUERY")
    order = {name: i for i, name in enumerate(reference.lengths)}
    sites: dict[tuple[str, int, str, str], list[list[Variant]]] = {}
    for side, variants in enumerate((truth, query)):
        for v in variants:
            key = (v.contig, *_vcf_alleles(reference.sequence(v.contig), v))
            sites.setdefault(key, [[], []])[side].append(v)
    for key in sorted(sites, key=lambda k: (order[k[0]], k[1], k[2], k[3])):
        contig, position, ref, alt = key
        truth_here, query_here = sites[key]
        for i in range(max(len(truth_here), len(query_here))):
            t = truth_here[i] if i < len(truth_here) else None
            q = query_here[i] if i < len(query_here) else None
            lines.append(
                f"{contig}\t{position}\t.\t{ref}\t{alt}\t.\t.\t.\tGT:BD:BK:BVT:BLT\t"
                f"{_sample(t)}\t{_sample(q)}"
            )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as folder:
        plain = Path(folder) / "annotated.vcf"
        plain.write_text("\n".join(lines) + "\n")
        compressed = Path(pysam.tabix_index(str(plain), preset="vcf", force=True))
        os.replace(f"{compressed}.tbi", f"{target}.tbi")
        os.replace(compressed, target)
