"""Compare a query VCF with a truth VCF the way hap.py does, without hap.py.

`compare_vcfs` reads and checks both files, matches them at haplotype level (see
`haplotypes`), applies confident regions, and returns hap.py's summary rows for Filter ALL
(every query call) and PASS (only query calls that pass all filters; matching is redone
without the others, so truth variants they matched become FN). With `pass_only`, filtered
query calls are dropped up front, so both rows are equal, like hap.py `--pass-only`.
Truth FILTER values are ignored: every truth call counts.

`write_outputs` writes `<prefix>.summary.csv`, `<prefix>.metrics.json` and
`<prefix>.vcf.gz` (+ .tbi), each atomically. summary.csv keeps hap.py's format exactly;
what was skipped in each input (duplicate, symbolic, IUPAC alleles) goes to metrics.json's
"inputs" section, as hap.py's table has no place for it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate import happy_output
from modelshrink.evaluate.genomic_variants import Variant
from modelshrink.evaluate.haplotypes import match_contig
from modelshrink.evaluate.reference import ReferenceGenome
from modelshrink.evaluate.regions import ConfidentRegions, read_bed
from modelshrink.evaluate.vcfread import CallSet, read_callset


@dataclass
class Comparison:
    """Summary rows in hap.py order plus the annotated (Filter ALL) variants."""

    rows: list[dict]
    truth: list[Variant]
    query: list[Variant]
    reference: ReferenceGenome
    parameters: dict
    inputs: dict  # per VCF (truth/query): records read, called ALT alleles skipped by reason

    def row(self, kind: str, filter_name: str) -> dict:
        return next(r for r in self.rows if r["Type"] == kind and r["Filter"] == filter_name)


def _match(
    reference: ReferenceGenome,
    truth: CallSet,
    query: dict[str, list[Variant]],
    regions: ConfidentRegions | None,
) -> tuple[list[Variant], list[Variant]]:
    """Match per contig and mark calls outside the confident regions UNK."""
    truth_out, query_out = [], []
    for contig in dict.fromkeys([*truth.by_contig, *query]):
        truth_here = truth.by_contig.get(contig, [])
        query_here = query.get(contig, [])
        match_contig(reference.sequence(contig), truth_here, query_here)
        truth_out += truth_here
        query_out += query_here
    if regions is not None:
        for v in (*truth_out, *query_out):
            if not regions.contains(v.contig, v.anchor):
                v.decision, v.match_kind = "UNK", "."
    return truth_out, query_out


def compare_vcfs(
    truth_vcf: Path,
    query_vcf: Path,
    reference_fasta: Path,
    confident_bed: Path | None = None,
    pass_only: bool = False,
    ploidy: int = 1,
) -> Comparison:
    """hap.py-style comparison; ploidy 1 compares allele presence only (`1` == `1/1`)."""
    if ploidy not in (1, 2):
        raise ModelshrinkError(f"ploidy must be 1 or 2, got {ploidy}")
    reference = ReferenceGenome(Path(reference_fasta))
    regions = read_bed(Path(confident_bed)) if confident_bed is not None else None
    truth = read_callset(Path(truth_vcf), reference, ploidy, "truth")
    query = read_callset(Path(query_vcf), reference, ploidy, "query")
    all_query = {
        contig: [v for v in variants if v.passes or not pass_only]
        for contig, variants in query.by_contig.items()
    }
    # PASS first on copies, then ALL on the originals, whose annotations go in the VCF.
    pass_truth = copy.deepcopy(truth)
    pass_query = {c: [copy.copy(v) for v in vs if v.passes] for c, vs in all_query.items()}
    pass_counts = happy_output.count(*_match(reference, pass_truth, pass_query, regions))
    truth_variants, query_variants = _match(reference, truth, all_query, regions)
    all_counts = happy_output.count(truth_variants, query_variants)
    rows = [
        counts[kind].row(kind, name)
        for kind in happy_output.TYPES
        for name, counts in (("ALL", all_counts), ("PASS", pass_counts))
    ]
    parameters = {
        "truth": str(truth_vcf),
        "query": str(query_vcf),
        "reference": str(reference_fasta),
        "confident_regions": str(confident_bed) if confident_bed is not None else None,
        "pass_only": pass_only,
        "ploidy": ploidy,
        "truth_records": truth.records,
        "query_records": query.records,
        "truth_sample": truth.sample,
        "query_sample": query.sample,
    }
    inputs = {"truth": _input_report(truth), "query": _input_report(query)}
    return Comparison(rows, truth_variants, query_variants, reference, parameters, inputs)


def _input_report(callset: CallSet) -> dict:
    """What metrics.json says about one input VCF: records read, called alleles skipped."""
    return {
        "records": callset.records,
        "skipped_alleles": dict(callset.skipped.counts),
        "first_skipped": dict(callset.skipped.first),
    }


def write_outputs(comparison: Comparison, prefix: Path) -> dict[str, Path]:
    """Write hap.py's file set for `prefix`; returns the paths by kind."""
    prefix = Path(prefix)
    paths = {
        "summary": Path(f"{prefix}.summary.csv"),
        "json": Path(f"{prefix}.metrics.json"),
        "vcf": Path(f"{prefix}.vcf.gz"),
    }
    happy_output.write_summary_csv(paths["summary"], comparison.rows)
    happy_output.write_metrics_json(
        paths["json"], comparison.rows, comparison.parameters, comparison.inputs
    )
    happy_output.write_annotated_vcf(
        paths["vcf"], comparison.reference, comparison.truth, comparison.query
    )
    return paths
