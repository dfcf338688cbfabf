"""The summary's change-against-the-original columns, each with its 95 % bootstrap interval.

Why a module of its own: the summary row of a variant needs the original's per-read and
per-piece tables too (the same reads and the same reference), which the other columns
never do. Three comparisons, each a difference of medians (bootstrap.py says how the
intervals are drawn):

- read identity on the sample's reads, reads paired by id;
- read identity on the real reads (config `real_reads`), paired by id, beside the
  simulated numbers so a simulator-only effect shows. Only reads the original aligns
  count: a read no model aligns is not from the reference (two of Taiyaki's five test
  reads), and its constant 0 would turn the median of five into the worst aligned read;
- polished assembly identity, 10 kb pieces paired by reference window (or unpaired).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.identity import PIECE_LENGTH
from modelshrink.report import bootstrap

COLUMNS = (
    "read_identity_delta",
    "read_identity_delta_low",
    "read_identity_delta_high",
    "real_reads",
    "real_reads_without_reference",
    "real_read_identity_median",
    "real_read_identity_delta",
    "real_read_identity_delta_low",
    "real_read_identity_delta_high",
    "assembly_identity_delta",
    "assembly_identity_delta_low",
    "assembly_identity_delta_high",
    "assembly_identity_delta_pairing",
)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with Path(path).open() as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error


def _identity(row: Mapping[str, str], path: Path) -> float:
    """A table's identity; NA (unaligned) is 0, as in the median."""
    if "identity" not in row:
        raise ModelshrinkError(f"{path}: no identity column (expected a per-sequence table)")
    try:
        value = float(row["identity"])
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(value) else value


def identities_by_read(path: Path) -> dict[str, float]:
    """Read id -> identity from a per-read table. A repeated id (duplicate read names)
    gets `#2`, `#3`, ... so no read is lost from the median."""
    found: dict[str, float] = {}
    for row in _rows(path):
        name, number = row.get("name", ""), 1
        while (key := name if number == 1 else f"{name}#{number}") in found:
            number += 1
        found[key] = _identity(row, path)
    return found


def _window(row: Mapping[str, str], piece_length: int) -> Hashable | None:
    """(target, index) of the reference window holding the best alignment's midpoint."""
    try:
        start, end = int(row["target_start"]), int(row["target_end"])
    except (KeyError, TypeError, ValueError):
        return None
    target = row.get("target")
    if not target or target == "NA":
        return None
    return target, (start + end) // 2 // piece_length


def pieces_by_window(
    path: Path, piece_length: int = PIECE_LENGTH
) -> list[tuple[Hashable | None, float]]:
    """(reference window or None, identity) of every piece of a per-piece table."""
    return [(_window(row, piece_length), _identity(row, path)) for row in _rows(path)]


def _interval_columns(prefix: str, difference: bootstrap.Difference | None) -> dict[str, Any]:
    if difference is None:
        return {f"{prefix}_delta": None, f"{prefix}_delta_low": None, f"{prefix}_delta_high": None}
    return {
        f"{prefix}_delta": difference.delta,
        f"{prefix}_delta_low": difference.low,
        f"{prefix}_delta_high": difference.high,
    }


def reads_with_reference(
    baseline_table: Path, variant_table: Path
) -> tuple[dict[str, float], dict[str, float], int]:
    """(original's, variant's identities) of the reads the original aligns, a read the
    variant does not align counting 0, and how many reads the original does not align."""
    every_read = identities_by_read(baseline_table)
    original = {name: identity for name, identity in every_read.items() if identity > 0}
    called = identities_by_read(variant_table)
    own = {name: called.get(name, 0.0) for name in original}
    return original, own, len(every_read) - len(original)


def _real_read_columns(
    entry: Mapping[str, Any], baseline: Mapping[str, Any], resamples: int, seed: int
) -> dict[str, Any]:
    if not entry.get("real_read_identity_table"):
        return {
            "real_reads": None,
            "real_reads_without_reference": None,
            "real_read_identity_median": None,
        } | _interval_columns("real_read_identity", None)
    original, own, without_reference = reads_with_reference(
        baseline["real_read_identity_table"], entry["real_read_identity_table"]
    )
    return {
        "real_reads": len(original),
        "real_reads_without_reference": without_reference,
        "real_read_identity_median": statistics.median(own.values()) if own else None,
    } | _interval_columns(
        "real_read_identity", bootstrap.paired_read_difference(original, own, resamples, seed)
    )


def difference_columns(
    entry: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    resamples: int,
    seed: int = bootstrap.DEFAULT_SEED,
) -> dict[str, Any]:
    """The COLUMNS of one manifest entry against `baseline`, the original's entry for the
    same sample (None: no original in the manifest, every column NA)."""
    if baseline is None:
        return dict.fromkeys(COLUMNS)
    reads = bootstrap.paired_read_difference(
        identities_by_read(baseline["read_identity_table"]),
        identities_by_read(entry["read_identity_table"]),
        resamples,
        seed,
    )
    assembly = bootstrap.window_difference(
        pieces_by_window(baseline["assembly_polished_pieces"]),
        pieces_by_window(entry["assembly_polished_pieces"]),
        resamples,
        seed,
    )
    return (
        _interval_columns("read_identity", reads)
        | _real_read_columns(entry, baseline, resamples, seed)
        | _interval_columns("assembly_identity", assembly)
        | {"assembly_identity_delta_pairing": assembly.pairing if assembly else None}
    )
