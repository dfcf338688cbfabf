"""The basecaller's sensitivity scan: every weight matrix x every grid setting, alone.

Rows (one per tensor and setting, plus one `original` row per tensor with no change, whose
damage is zero by construction and anchors the heatmap) carry the tensor's layer, its
element count, the damage measures of `damage.DamageMeter` and the setting's estimated
stored size (`size.stored_bits`), which is what the proposer trades against the damage.
Settings run in `threads` worker threads, each network single-threaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

import torch

from modelshrink.sensitivity.damage import Damage, DamageMeter, sublayer_index
from modelshrink.sensitivity.grid import ScanGrid, Setting, perturbed
from modelshrink.sensitivity.size import stored_bits
from modelshrink.toolbox.names import selectable

log = logging.getLogger(__name__)

ORIGINAL_SETTING = Setting("none", 0.0)
#: the scan TSV's numeric columns
NUMERIC_COLUMNS = (
    "value",
    "parameters",
    "estimated_bytes",
    "crf_loss",
    "crf_loss_change",
    "kl_divergence",
    "read_identity",
    "identity_loss_points",
)


def scanned_tensors(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Every weight matrix the toolbox prunes or quantizes: the convolution, each GRU's
    input and recurrent matrices and the output layer (biases are too small to matter)."""
    return [name for name in selectable(tensors) if tensors[name].dim() >= 2]


def _row(name: str, tensor: torch.Tensor, setting: Setting, damage: Any) -> dict[str, Any]:
    return {
        "tensor": name,
        "layer": f"sublayers.{sublayer_index(name)}",
        "kind": setting.kind,
        "value": setting.value,
        "setting": setting.label if setting.kind != "none" else "original",
        "parameters": tensor.numel(),
        "estimated_bytes": stored_bits(tensor.numel(), setting) / 8,
        **asdict(damage),
    }


def scan_basecaller(meter: DamageMeter, grid: ScanGrid, threads: int = 1) -> list[dict[str, Any]]:
    """One row per scanned tensor and setting (and the unchanged `original` per tensor)."""
    names = scanned_tensors(meter.tensors)
    zero = Damage(meter.crf_loss, 0.0, 0.0, meter.read_identity, 0.0)  # the original itself

    def one(job: tuple[str, Setting]) -> dict[str, Any]:
        name, setting = job
        tensors = dict(meter.tensors)
        tensors[name] = perturbed(tensors[name], setting, grid)
        damage = meter.measure(tensors, sublayer_index(name))
        log.info(
            "%s %s: identity loss %.2f points, KL %.4f",
            name,
            setting.label,
            damage.identity_loss_points,
            damage.kl_divergence,
        )
        return _row(name, meter.tensors[name], setting, damage)

    jobs = [(name, setting) for name in names for setting in grid.settings]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        measured = list(pool.map(one, jobs))
    rows = []
    for name in names:
        rows.append(_row(name, meter.tensors[name], ORIGINAL_SETTING, zero))
        rows.extend(row for row in measured if row["tensor"] == name)
    return rows
