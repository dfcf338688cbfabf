"""The scan grid and the one-tensor perturbations it applies, shared by both families.

Each setting is applied to one tensor alone, without fine-tuning, so its damage is what
that tensor contributes; the proposer adds these up. Pruning is magnitude pruning
(`compress.prune.magnitude_mask`), quantization the toolbox's symmetric per-channel
scheme (`compress.quantize.quantize_per_channel`, what an 8-bit variant uses) or the
original per-tensor scale scheme, so a proposed variant stores exactly what was scanned.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.prune import magnitude_mask
from modelshrink.toolbox.quantize import quantize_tensor
from modelshrink.toolbox.quantize_config import (
    PerChannelConfig,
    QuantizeConfig,
    ScaleQuantConfig,
    check_bits,
)
from modelshrink.toolbox.sparsity import check_sparsity

SPARSITY, BITS = "sparsity", "bits"
QUANTIZE_SCHEMES = ("per_channel", "scale")


@dataclass(frozen=True)
class Setting:
    """One grid point: `kind` sparsity (fraction pruned) or bits (bit-width)."""

    kind: str
    value: float

    @property
    def label(self) -> str:
        """Column name in the heatmap: `prune 50%`, `int6`."""
        if self.kind == SPARSITY:
            return f"prune {round(self.value * 100):g}%"
        return f"int{int(self.value)}"


@dataclass(frozen=True)
class ScanGrid:
    """Sparsities and bit-widths to try on every tensor, and the quantization scheme."""

    sparsities: tuple[float, ...] = (0.25, 0.5, 0.75)
    bits: tuple[int, ...] = (8, 6, 4)
    scheme: str = "per_channel"

    def __post_init__(self) -> None:
        for value in self.sparsities:
            check_sparsity(value, "sensitivity sparsity")
        for value in self.bits:
            check_bits(value, "sensitivity bits")
        if self.scheme not in QUANTIZE_SCHEMES:
            raise ModelshrinkError(
                f"sensitivity scheme {self.scheme!r}: expected one of {list(QUANTIZE_SCHEMES)}"
            )
        if not self.sparsities and not self.bits:
            raise ModelshrinkError("sensitivity grid: give at least one sparsity or bit-width")

    @property
    def settings(self) -> list[Setting]:
        return [Setting(SPARSITY, float(s)) for s in sorted(self.sparsities)] + [
            Setting(BITS, int(b)) for b in sorted(self.bits, reverse=True)
        ]

    def quantize_config(self, bits: int) -> QuantizeConfig:
        if self.scheme == "scale":
            return ScaleQuantConfig(bits)
        return PerChannelConfig(bits)


def perturbed(tensor: torch.Tensor, setting: Setting, grid: ScanGrid) -> torch.Tensor:
    """The tensor with one setting applied (pruned, or quantized and dequantized)."""
    if setting.kind == SPARSITY:
        return tensor * magnitude_mask(tensor, setting.value).to(tensor.dtype)
    return quantize_tensor(tensor, grid.quantize_config(int(setting.value)))[0].to(tensor.dtype)


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """A scan TSV: the first row's keys are the columns; floats with 6 significant digits."""
    if not rows:
        raise ModelshrinkError(f"{path}: no scan rows to write")
    columns = list(rows[0])
    with (
        atomic_output(Path(path), suffix=".tsv") as temporary,
        open(temporary, "w", newline="") as handle,
    ):
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_text(row[column]) for column in columns])


def _text(value: Any) -> str:
    if value is None:
        return "NA"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_rows(path: Path, numeric: Iterable[str]) -> list[dict[str, Any]]:
    """A scan TSV back, the `numeric` columns as floats (NA -> None)."""
    numeric = set(numeric)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise ModelshrinkError(f"cannot read sensitivity scan {path}: {error.strerror}") from error
    missing = numeric - set(rows[0] if rows else ())
    if not rows or missing:
        raise ModelshrinkError(
            f"{path}: not a sensitivity scan (no rows, or missing columns {sorted(missing)})"
        )
    return [
        {
            key: (None if value == "NA" else float(value)) if key in numeric else value
            for key, value in row.items()
        }
        for row in rows
    ]
