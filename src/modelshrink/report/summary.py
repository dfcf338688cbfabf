"""results/summary.tsv: one row per variant x sample, every stage's headline number.

The manifest (built by the workflow) names, per row, the small files each stage wrote;
this module only reads them. A file that is absent (e.g. no truth VCF for a sample)
or an empty assembly gives NA in its columns rather than a failed report. Speed comes
from the timing step (every variant timed alone, interleaved with the original), and
each accuracy number has its change against the original with a 95 % bootstrap
interval (differences.py).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelshrink.atomic import write_text_atomic
from modelshrink.basecaller.compress.spec import ORIGINAL
from modelshrink.errors import ModelshrinkError
from modelshrink.report import differences

#: the timing table's columns that become summary columns of the same name
TIMING_COLUMNS = (
    "speed_ratio",
    "speed_ratio_min",
    "speed_ratio_max",
    "cpu_speed_ratio",
    "cpu_share",
    "execution_path",
    "stored_as",
)
#: timing columns that hold words: which kernels ran, how the file is stored
_TIMING_TEXT = ("execution_path", "stored_as")

COLUMNS = (
    "variant",
    "sample",
    "tuned_on",
    "bytes",
    "compression_ratio",
    "parameters",
    "nonzero_parameters",
    "bits_per_parameter",
    "macs_per_sample",
    "sparse_macs_per_sample",
    "basecall_samples_per_second",
    *TIMING_COLUMNS,
    "reads",
    "reads_skipped",
    "read_identity_median",
    "read_identity_mean",
    "read_qscore_median",
    "assembly_identity_draft",
    "assembly_identity_polished",
    "assembly_identity_whole_draft",
    "assembly_identity_whole_polished",
    "racon_unpolished_fraction",
    "reads_used_for_calling",
    "callable_fraction",
    *differences.COLUMNS,
    "snp_precision",
    "snp_recall",
    "snp_f1",
    "indel_precision",
    "indel_recall",
    "indel_f1",
)

#: manifest keys every row must name (evaluation may be null: no truth VCF; an optional
#: real_read_identity_table names the real reads' per-read table)
MANIFEST_KEYS = (
    "variant",
    "sample",
    "stats",
    "speed",
    "timing",
    "read_identity",
    "read_identity_table",
    "assembly_draft",
    "assembly_polished",
    "assembly_polished_pieces",
)


def parse_manifest(text: str, keys: Sequence[str] = MANIFEST_KEYS) -> list[dict[str, Any]]:
    """The workflow's JSON list of rows; each must have `keys` (the files of MANIFEST_KEYS)."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelshrinkError(f"--manifest: not JSON ({error})") from error
    if not isinstance(rows, list) or not rows:
        raise ModelshrinkError("--manifest: expected a non-empty JSON list of rows")
    for number, row in enumerate(rows):
        missing = [key for key in keys if not isinstance(row, Mapping) or key not in row]
        if missing:
            raise ModelshrinkError(f"--manifest row {number}: lacks the keys {missing}")
    return rows


def _one_row_tsv(path: Path) -> dict[str, str]:
    try:
        with Path(path).open() as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error
    if len(rows) != 1:
        raise ModelshrinkError(f"{path}: expected a header and one row, found {len(rows)} rows")
    return rows[0]


def _number(value: object) -> float | None:
    if value is None or value in ("", "NA", "nan"):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def read_stats(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelshrinkError(f"cannot read model stats {path}: {error}") from error


def read_happy_summary(path: Path) -> dict[str, float | None]:
    """precision/recall/F1 of SNP and INDEL (Filter ALL) from a hap.py summary.csv."""
    try:
        with Path(path).open() as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error
    result: dict[str, float | None] = {}
    for kind in ("SNP", "INDEL"):
        match = [r for r in rows if r.get("Type") == kind and r.get("Filter") == "ALL"]
        if not match:
            raise ModelshrinkError(f"{path}: no {kind} row with Filter ALL (not a hap.py summary)")
        prefix = kind.lower()
        result[f"{prefix}_precision"] = _number(match[0].get("METRIC.Precision"))
        result[f"{prefix}_recall"] = _number(match[0].get("METRIC.Recall"))
        f1 = _number(match[0].get("METRIC.F1_Score"))
        if f1 is None and result[f"{prefix}_recall"] == 0:
            f1 = 0.0  # no truth variant found: F1 is 0, not undefined (hap.py writes NaN)
        result[f"{prefix}_f1"] = f1
    return result


def _identity(path: Path, column: str) -> float | None:
    return _number(_one_row_tsv(path).get(column))


def racon_unpolished_fraction(path: Path | None) -> float | None:
    """Share of the assembly (by length) in windows racon left as they were.

    racon writes `LN:i:<length> ... XC:f:<polished windows / windows>` after each
    contig's name; windows without enough reads (or, with -q, without reads of high enough
    quality) keep the backbone. None without a racon assembly or without those tags.
    """
    if path is None:
        return None
    total = unpolished = 0.0
    try:
        with Path(path).open() as handle:
            for line in handle:
                if not line.startswith(">"):
                    continue
                tags = dict(field.split(":", 1) for field in line.split()[1:] if ":" in field)
                length, polished = _number(tags.get("LN", "")[2:]), _number(tags.get("XC", "")[2:])
                if length is None or polished is None:
                    return None
                total += length
                unpolished += length * (1.0 - polished)
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error
    return unpolished / total if total else None


def tuned_on(report: str | None) -> str:
    """What a variant learned from (its compress report's tuned_on: real, simulated,
    real+simulated or none); the original, which has no report, learned from nothing."""
    if not report:
        return "none"
    try:
        return str(json.loads(Path(report).read_text()).get("tuned_on", "NA"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelshrinkError(f"cannot read compress report {report}: {error}") from error


def read_timing(path: Path, variant: str) -> dict[str, Any]:
    """The variant's row of a `modelshrink timing` table: speed, ratio, execution path."""
    try:
        with Path(path).open() as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["variant"] == variant]
    except (OSError, KeyError) as error:
        raise ModelshrinkError(f"cannot read timing table {path}: {error}") from error
    if len(rows) != 1:
        raise ModelshrinkError(
            f"{path}: expected one row of variant {variant!r}, found {len(rows)}"
        )
    row = rows[0]
    return {
        "basecall_samples_per_second": _number(row.get("samples_per_second")),
        **{key: _number(row.get(key)) for key in TIMING_COLUMNS if key not in _TIMING_TEXT},
        **{key: row.get(key) or None for key in _TIMING_TEXT},
    }


def summary_row(
    entry: Mapping[str, Any],
    baseline_bytes: int | None,
    baseline: Mapping[str, Any] | None,
    resamples: int,
) -> dict[str, Any]:
    """One row; `baseline` is the original's entry for the same sample (None: no deltas)."""
    stats = read_stats(entry["stats"])
    speed = _one_row_tsv(entry["speed"])
    reads = _one_row_tsv(entry["read_identity"])
    skipped = _number(speed.get("skipped"))
    row: dict[str, Any] = {
        "variant": entry["variant"],
        "sample": entry["sample"],
        "tuned_on": tuned_on(entry.get("compress_report")),
        "bytes": stats["bytes"],
        "compression_ratio": baseline_bytes / stats["bytes"] if baseline_bytes else None,
        "parameters": stats["parameters"],
        "nonzero_parameters": stats["nonzero_parameters"],
        "bits_per_parameter": stats.get("bits_per_parameter"),
        "macs_per_sample": stats.get("macs_per_sample"),
        "sparse_macs_per_sample": stats.get("sparse_macs_per_sample"),
        **read_timing(entry["timing"], entry["variant"]),
        "reads": int(_number(reads.get("sequences")) or 0),
        "reads_skipped": None if skipped is None else int(skipped),
        "read_identity_median": _number(reads.get("median_identity")),
        "read_identity_mean": _number(reads.get("mean_identity")),
        "read_qscore_median": _number(speed.get("median_read_qscore")),
        "assembly_identity_draft": _identity(entry["assembly_draft"], "median_identity"),
        "assembly_identity_polished": _identity(entry["assembly_polished"], "median_identity"),
        "assembly_identity_whole_draft": _identity(entry["assembly_draft"], "whole_identity"),
        "assembly_identity_whole_polished": _identity(entry["assembly_polished"], "whole_identity"),
        "racon_unpolished_fraction": racon_unpolished_fraction(entry.get("racon")),
        **differences.difference_columns(entry, baseline, resamples),
    }
    if entry.get("calling_usage"):
        usage = _one_row_tsv(entry["calling_usage"])
        row["reads_used_for_calling"] = _number(usage.get("reads_used_fraction"))
        row["callable_fraction"] = _number(usage.get("callable_fraction"))
    if entry.get("evaluation"):
        row.update(read_happy_summary(entry["evaluation"]))
    return row


def build_summary(manifest: Sequence[Mapping[str, Any]], resamples: int) -> list[dict[str, Any]]:
    """All rows; the compression ratio is against the variant named "original", and each
    row's deltas against the original's row of the same sample."""
    originals = {entry["sample"]: entry for entry in manifest if entry["variant"] == ORIGINAL}
    first = next(iter(originals.values()), None)
    baseline_bytes = read_stats(first["stats"])["bytes"] if first else None
    return [
        summary_row(entry, baseline_bytes, originals.get(entry["sample"]), resamples)
        for entry in manifest
    ]


def _format(value: Any) -> str:
    if value is None:
        return "NA"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1000:
            return str(int(value))
        return f"{value:.6g}" if abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def write_summary(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(_format(row.get(column)) for column in COLUMNS) for row in rows]
    write_text_atomic(output, "\n".join(lines) + "\n")


#: summary columns that hold words, not numbers
TEXT_COLUMNS = (
    "variant",
    "sample",
    "tuned_on",
    *_TIMING_TEXT,
    "assembly_identity_delta_pairing",
)


def read_summary(path: Path) -> list[dict[str, Any]]:
    """summary.tsv back as dicts; numbers as floats, NA as None."""
    with Path(path).open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        {
            key: (None if value in ("", "NA") else value) if key in TEXT_COLUMNS else _number(value)
            for key, value in r.items()
        }
        for r in rows
    ]
