"""Sparsity values and the original `prune.py` data.txt, importable without torch.

Why apart from `prune`: variant specs are checked at workflow start (`spec`), and a
sparsity of 1.2 or a malformed data.txt must be reported there without importing torch.
"""

from __future__ import annotations

import math
from pathlib import Path

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import read_name_list


def check_sparsity(value: object, where: str) -> float:
    """A sparsity must be a number in [0, 1): pruning everything is never a variant."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ModelshrinkError(f"{where}: sparsity {value!r} must be a number in [0, 1)")
    return float(value)


def pruned_count(numel: int, sparsity: float) -> int:
    """ceil(s * n), guarded against float noise (0.3 * 10 must give 3, not 4)."""
    return min(numel, math.ceil(round(sparsity * numel, 9)))


def read_prune_data_txt(path: Path) -> dict[str, float]:
    """The original `prune.py` input: alternating lines of parameter name and sparsity."""
    lines = read_name_list(path)
    if len(lines) % 2:
        raise ModelshrinkError(
            f"{path}: expected alternating lines 'parameter name' / 'sparsity', "
            f"found an odd number of lines ({len(lines)})"
        )
    sparsities: dict[str, float] = {}
    for name, value in zip(lines[::2], lines[1::2], strict=True):
        try:
            number = float(value)
        except ValueError as error:
            raise ModelshrinkError(
                f"{path}: the line after {name!r} must be a sparsity between 0 and 1, "
                f"found {value!r}"
            ) from error
        sparsities[name] = check_sparsity(number, f"{path}: {name}")
    return sparsities
