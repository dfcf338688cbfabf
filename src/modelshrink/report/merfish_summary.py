"""results/merfish/summary.tsv: one row per merFISH variant, size and speed next to accuracy.

The workflow's manifest names, per variant, the two small JSON files its jobs wrote: the
compress summary (`modelshrink merfish compress --summary`: method, parameters, MACs, what
was converted) and the evaluation (`modelshrink merfish evaluate --out`: the issue's
accuracies, stored bytes, time per tile and how the model ran). This module only joins them,
so the table can be rebuilt from those files without torch.

The compression ratio and speed-up are against the float32 variant (method `float32`), the
uncompressed reference; without one, the ratio is against the trained model file (`reference`).
The speed-up is the evaluation's own where it has one (float32 model timed in the same job,
interleaved: robust to load from other jobs); otherwise float32 ms / variant ms across
jobs, NA without a float32 variant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelshrink.atomic import write_text_atomic
from modelshrink.errors import ModelshrinkError
from modelshrink.report import summary
from modelshrink.report.summary import _format, _number

REFERENCE_METHOD = "float32"

COLUMNS = (
    "variant",
    "method",
    "stored_as",
    "bytes",
    "compression_ratio",
    "parameters",
    "nonzero_parameters",
    "macs_per_tile",
    "nonzero_macs_per_tile",
    "position_accuracy",
    "position_jaccard",
    "barcode_accuracy",
    "barcode_jaccard",
    "position_average_precision",
    "barcode_average_precision",
    "tiles",
    "ms_per_tile",
    "threads",
    "tiles_per_call",
    "speedup",
    "execution_path",
    "int8_convolutions",
    "note",
)

#: columns that hold text, not numbers (read back as strings)
TEXT_COLUMNS = ("variant", "method", "stored_as", "execution_path", "note")

#: keys every manifest entry must have
MANIFEST_KEYS = ("variant", "method", "compress", "evaluation")


def parse_manifest(text: str) -> list[dict[str, Any]]:
    """The workflow's JSON list of {variant, method, compress, evaluation} entries."""
    return summary.parse_manifest(text, MANIFEST_KEYS)


def _read_json(path: str | Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_text())
    except OSError as error:
        raise ModelshrinkError(f"cannot read {what} {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise ModelshrinkError(f"{what} {path}: not JSON ({error})") from error
    if not isinstance(value, dict):
        raise ModelshrinkError(f"{what} {path}: expected a JSON object")
    return value


def _required(values: Mapping[str, Any], key: str, path: str | Path) -> Any:
    if key not in values:
        raise ModelshrinkError(f"{path}: lacks {key!r}; was it written by modelshrink merfish?")
    return values[key]


def variant_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One variant's numbers (ratio and speed-up are filled in by `build_summary`)."""
    compressed = _read_json(entry["compress"], "compress summary")
    evaluation = _read_json(entry["evaluation"], "evaluation")
    seconds = _number(_required(evaluation, "seconds_per_tile", entry["evaluation"]))
    info = compressed.get("info") or {}
    return {
        "variant": entry["variant"],
        "method": entry["method"],
        "stored_as": _required(compressed, "variant", entry["compress"]),
        "bytes": int(_required(evaluation, "stored_bytes", entry["evaluation"])),
        "parameters": compressed.get("parameters"),
        "nonzero_parameters": compressed.get("nonzero_parameters"),
        "macs_per_tile": compressed.get("macs"),
        "nonzero_macs_per_tile": compressed.get("nonzero_macs"),
        **{
            key: _number(_required(evaluation, key, entry["evaluation"]))
            for key in (
                "position_accuracy",
                "position_jaccard",
                "barcode_accuracy",
                "barcode_jaccard",
            )
        },
        "position_average_precision": _number(evaluation.get("position_average_precision")),
        "barcode_average_precision": _number(evaluation.get("barcode_average_precision")),
        "tiles": evaluation.get("tiles"),
        "ms_per_tile": None if seconds is None else 1000.0 * seconds,
        "threads": evaluation.get("threads"),
        "tiles_per_call": evaluation.get("tiles_per_call"),
        "speedup": _number(evaluation.get("speedup")),
        "execution_path": evaluation.get("execution_path") or evaluation.get("runtime"),
        "int8_convolutions": evaluation.get("int8_convolutions"),
        "note": " ".join(str(info.get("note", "")).split()),  # one line in a TSV cell
    }


def build_summary(
    manifest: Sequence[Mapping[str, Any]], reference: Path | None = None
) -> list[dict[str, Any]]:
    """All rows with compression ratio and speed-up against the float32 variant."""
    rows = [variant_row(entry) for entry in manifest]
    references = [row for row in rows if row["method"] == REFERENCE_METHOD]
    if references:
        baseline_bytes: int | None = references[0]["bytes"]
        baseline_ms = references[0]["ms_per_tile"]
    else:
        baseline_ms = None
        try:
            baseline_bytes = Path(reference).stat().st_size if reference else None
        except OSError as error:
            raise ModelshrinkError(f"--reference {reference}: {error.strerror}") from error
    for row in rows:
        row["compression_ratio"] = baseline_bytes / row["bytes"] if baseline_bytes else None
        if row["method"] == REFERENCE_METHOD:
            row["speedup"] = 1.0  # the reference, by definition
        elif row["speedup"] is None:
            row["speedup"] = (
                baseline_ms / row["ms_per_tile"] if baseline_ms and row["ms_per_tile"] else None
            )
    return rows


def write_summary(rows: Sequence[Mapping[str, Any]], output: Path) -> None:
    def cell(value: Any) -> str:
        return value.replace("\t", " ") if isinstance(value, str) else _format(value)

    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(cell(row.get(column)) for column in COLUMNS) for row in rows]
    write_text_atomic(output, "\n".join(lines) + "\n")


def read_summary(path: Path) -> list[dict[str, Any]]:
    """summary.tsv back as dicts: numbers as floats, NA as None, text columns as text."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ModelshrinkError(f"{path}: not a merFISH summary (expected columns {COLUMNS})")
    rows = []
    for line in lines[1:]:
        values = dict(zip(COLUMNS, line.split("\t"), strict=True))
        rows.append({k: v if k in TEXT_COLUMNS else _number(v) for k, v in values.items()})
    return rows
