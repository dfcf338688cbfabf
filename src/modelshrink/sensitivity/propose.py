"""Per-layer sparsities and bit-widths from a sensitivity scan, within a budget, verified.

The search is a greedy knapsack over the scan. Every scanned tensor has options: a
sparsity from the grid (or none) combined with a bit-width from the grid (or float32);
an option's size is `size.tensor_bits`, its predicted damage the sum of the measured
damages of its sparsity and its bit-width alone. Starting from float32 everywhere, the
move (one tensor to a smaller option) that saves the most bytes per point of predicted
damage is taken while the total predicted damage stays within the budget; with a target
ratio instead, moves go on until the estimated size reaches it.

Predicted damage in identity points: the larger of the measured identity loss and
`slope` x KL divergence, where `slope` is the scan's own points-per-KL (least squares
through zero over settings that lost between 0 and 10 points). With a few reads the
identity loss of a mild setting is noise around zero, so the smooth KL keeps those from
counting as free; where the identity loss is larger, it is what counts.

Verification: the proposal is built by `compress.variant.build_variant` exactly as the
workflow will build it, and its damage measured by a `DamageMeter`; a proposal over the
budget is searched again with a smaller predicted budget (BUDGET_FACTORS), so what is
written has been measured within budget on the verification reads.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from modelshrink.atomic import write_text_atomic
from modelshrink.basecaller.compress.model_variant import build_variant
from modelshrink.basecaller.compress.spec import parse_variant
from modelshrink.errors import ModelshrinkError
from modelshrink.sensitivity import PROPOSED_VARIANT
from modelshrink.sensitivity.damage import Damage, DamageMeter
from modelshrink.sensitivity.grid import BITS, SPARSITY
from modelshrink.sensitivity.size import FLOAT_BITS, tensor_bits
from modelshrink.toolbox.names import selectable
from modelshrink.toolbox.storage import load_model

log = logging.getLogger(__name__)

#: predicted budgets tried in turn, as fractions of the asked budget, until one verifies
BUDGET_FACTORS = (1.0, 0.6, 0.35, 0.15)
#: settings losing between these many points calibrate points per KL
SLOPE_RANGE = (0.0, 10.0)


@dataclass(frozen=True)
class Option:
    """One tensor's choice: sparsity (0: none) and bits (FLOAT_BITS: stays float32)."""

    sparsity: float
    bits: int
    size_bits: float
    damage: float


@dataclass
class Proposal:
    """Per-tensor choices and their predicted totals (and, once verified, the measures)."""

    choices: dict[str, Option]
    predicted_points: float
    estimated_bytes: float
    verified: Damage | None = None
    file_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sparsity(self) -> dict[str, float]:
        return {n: o.sparsity for n, o in self.choices.items() if o.sparsity > 0}

    @property
    def bits(self) -> dict[str, int]:
        return {n: o.bits for n, o in self.choices.items() if o.bits < FLOAT_BITS}


def points_per_kl(rows: Sequence[Mapping[str, Any]]) -> float:
    """Least-squares slope through zero of identity loss on KL (0 when nothing lost)."""
    low, high = SLOPE_RANGE
    pairs = [
        (row["kl_divergence"], row["identity_loss_points"])
        for row in rows
        if row["kind"] != "none" and low < row["identity_loss_points"] < high
    ]
    denominator = sum(kl * kl for kl, _ in pairs)
    return sum(kl * loss for kl, loss in pairs) / denominator if denominator else 0.0


def predicted_damage(row: Mapping[str, Any], slope: float) -> float:
    return max(row["identity_loss_points"], slope * row["kl_divergence"], 0.0)


def tensor_options(rows: Sequence[Mapping[str, Any]], slope: float) -> dict[str, list[Option]]:
    """Every scanned tensor's options, from its scan rows."""
    by_tensor: dict[str, dict[tuple[str, float], float]] = {}
    parameters: dict[str, int] = {}
    for row in rows:
        by_tensor.setdefault(row["tensor"], {})[(row["kind"], row["value"])] = predicted_damage(
            row, slope
        )
        parameters[row["tensor"]] = int(row["parameters"])
    options: dict[str, list[Option]] = {}
    for name, damages in by_tensor.items():
        sparsities = {0.0: 0.0} | {v: d for (k, v), d in damages.items() if k == SPARSITY}
        widths = {FLOAT_BITS: 0.0} | {int(v): d for (k, v), d in damages.items() if k == BITS}
        options[name] = [
            Option(s, b, tensor_bits(parameters[name], s, b), ds + db)
            for s, ds in sparsities.items()
            for b, db in widths.items()
        ]
    return options


def greedy(
    options: Mapping[str, Sequence[Option]],
    budget_points: float | None = None,
    target_bits: float | None = None,
) -> Proposal:
    """Greedy knapsack: cheapest damage per saved bit first, within the budget (or until
    the size target is reached)."""
    current = {
        name: next(o for o in opts if o.sparsity == 0 and o.bits == FLOAT_BITS)
        for name, opts in options.items()
    }
    total_damage = 0.0
    while True:
        size = sum(o.size_bits for o in current.values())
        if target_bits is not None and size <= target_bits:
            break
        best: tuple[float, str, Option] | None = None
        for name, opts in options.items():
            now = current[name]
            for option in opts:
                saved = now.size_bits - option.size_bits
                added = option.damage - now.damage
                if saved <= 0:
                    continue
                if budget_points is not None and total_damage + added > budget_points:
                    continue
                efficiency = saved / max(added, 1e-9)
                if best is None or efficiency > best[0]:
                    best = (efficiency, name, option)
        if best is None:
            break
        _, name, option = best
        total_damage += option.damage - current[name].damage
        current[name] = option
    return Proposal(dict(current), total_damage, sum(o.size_bits for o in current.values()) / 8)


def variant_spec(
    proposal: Proposal, tensors: Mapping[str, torch.Tensor], description: str
) -> dict[str, Any]:
    """The proposal as a `variants:` entry. Tensors the scan leaves out (biases) are
    stored at the widest proposed bit-width when anything is quantized."""
    spec: dict[str, Any] = {"description": description}
    if proposal.sparsity:
        spec["prune"] = {"method": "magnitude", "sparsity": proposal.sparsity}
    bits = proposal.bits
    if bits:
        widest = max(bits.values())
        rest = {name: widest for name in selectable(tensors) if name not in proposal.choices}
        spec["quantize"] = {"scheme": "per_channel", "bits": bits | rest}
    if len(spec) == 1:
        raise ModelshrinkError(
            "the budget allows no change to any tensor: even the mildest scanned setting "
            "is predicted to lose more; raise the budget or scan milder settings"
        )
    return spec


def verify(proposal: Proposal, spec: Mapping[str, Any], original: Path, meter: DamageMeter) -> None:
    """Build the variant as the workflow will and measure it; fills `verified`."""
    parsed = parse_variant(PROPOSED_VARIANT, spec, list(meter.tensors))
    with tempfile.TemporaryDirectory(prefix="modelshrink-propose-") as folder:
        path = Path(folder) / "proposed.safetensors"
        build_variant(original, path, parsed)
        proposal.file_bytes = path.stat().st_size
        tensors = load_model(path).tensors
    proposal.verified = meter.measure(tensors)


def propose(
    rows: Sequence[Mapping[str, Any]],
    original: Path,
    meter: DamageMeter,
    budget_points: float | None = None,
    target_ratio: float | None = None,
) -> tuple[Proposal, dict[str, Any]]:
    """The proposal (verified) and its variant spec, for a points budget or a size ratio."""
    if (budget_points is None) == (target_ratio is None):
        raise ModelshrinkError("give either a read-identity budget (points) or a target ratio")
    slope = points_per_kl(rows)
    options = tensor_options(rows, slope)
    if target_ratio is not None:
        original_bits = 8.0 * Path(original).stat().st_size
        proposal = greedy(options, target_bits=original_bits / target_ratio)
        description = f"sensitivity proposal for {target_ratio:g}x smaller"
        spec = variant_spec(proposal, meter.tensors, description)
        verify(proposal, spec, original, meter)
        return proposal, spec
    tried = []
    for factor in BUDGET_FACTORS:
        proposal = greedy(options, budget_points=budget_points * factor)
        description = f"sensitivity proposal for at most {budget_points:g} points identity loss"
        spec = variant_spec(proposal, meter.tensors, description)
        verify(proposal, spec, original, meter)
        loss = proposal.verified.identity_loss_points
        log.info(
            "predicted budget %.3f points: predicted %.3f, measured %.3f points, %d bytes",
            budget_points * factor,
            proposal.predicted_points,
            loss,
            proposal.file_bytes,
        )
        tried.append(f"{factor:g}x budget: measured {loss:.3f} points")
        if loss <= budget_points:
            proposal.notes = tried
            return proposal, spec
    raise ModelshrinkError(
        f"no proposal measured within {budget_points:g} points on the verification reads "
        f"({'; '.join(tried)}); raise the budget or verify on more reads"
    )


def proposal_report(proposal: Proposal, original: Path, slope: float) -> dict[str, Any]:
    original_bytes = Path(original).stat().st_size
    return {
        "predicted_identity_loss_points": proposal.predicted_points,
        "points_per_kl": slope,
        "estimated_bytes": proposal.estimated_bytes,
        "file_bytes": proposal.file_bytes,
        "ratio": original_bytes / proposal.file_bytes if proposal.file_bytes else None,
        "verified": vars(proposal.verified) if proposal.verified else None,
        "attempts": proposal.notes,
        "choices": {
            name: {"sparsity": o.sparsity, "bits": o.bits, "predicted_points": o.damage}
            for name, o in proposal.choices.items()
        },
    }


def write_proposal(path: Path, name: str, spec: Mapping[str, Any], header: Sequence[str]) -> None:
    """A config snippet: `variants: {name: spec}` under comment lines saying how it was made."""
    comments = "".join(f"# {line}\n" for line in header)
    body = yaml.safe_dump({"variants": {name: dict(spec)}}, sort_keys=False, width=100)
    write_text_atomic(path, comments + body)
