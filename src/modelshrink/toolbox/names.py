"""Turning the parameter names and globs users write into the model's real names.

Users know the original tool's names (`sublayers.1.layer.cudnn_gru.weight_ih_l0`), so
those work verbatim; globs use shell rules where `*` also crosses dots, so
`sublayers.*.cudnn_gru.weight_hh_l0` means every GRU's recurrent weights, reversed
layers (`sublayers.1.layer.cudnn_gru…`) included. A name or glob that matches nothing
is an error that lists the valid names, because a silently ignored typo would produce
a "compressed" model identical to the original.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from pathlib import Path

from modelshrink.errors import ModelshrinkError

_GLOB_CHARS = frozenset("*?[")
#: Tensors no method may change: Taiyaki's redundant GRU bias, always zero (never
#: pruned, quantized or trained). No other family has a tensor of this name.
FROZEN_SUFFIX = "bias_hh_l0"


def is_frozen(name: str) -> bool:
    """True for tensors that must stay exactly as they are (Taiyaki's zero GRU bias)."""
    return name.endswith(FROZEN_SUFFIX)


def is_glob(pattern: str) -> bool:
    return any(char in _GLOB_CHARS for char in pattern)


def selectable(names: Iterable[str]) -> list[str]:
    """The names compression may touch: all but Taiyaki's frozen zero GRU bias."""
    return [name for name in names if not is_frozen(name)]


def match_names(pattern: str, names: Iterable[str], where: str = "parameter") -> list[str]:
    """The selectable names a name or glob stands for, in model order.

    An exact name of a frozen tensor is refused; a glob simply skips frozen tensors.
    """
    names = list(names)
    valid = selectable(names)
    if not is_glob(pattern):
        if pattern in valid:
            return [pattern]
        if pattern in names:
            raise ModelshrinkError(
                f"{where} {pattern!r} is Taiyaki's always-zero GRU bias and is never "
                f"compressed; remove it from the list"
            )
        raise ModelshrinkError(f"unknown {where} {pattern!r}; valid names: {', '.join(valid)}")
    matched = [name for name in valid if fnmatch.fnmatchcase(name, pattern)]
    if not matched:
        raise ModelshrinkError(
            f"{where} glob {pattern!r} matches no parameter; valid names: {', '.join(valid)}"
        )
    return matched


def assign_values(
    values: Mapping[str, float], names: Iterable[str], where: str = "parameter"
) -> dict[str, float]:
    """Expand {name or glob: value} to {name: value}; two keys giving one name two values
    is an error naming both keys rather than a silent precedence rule."""
    names = list(names)
    assigned: dict[str, float] = {}
    source: dict[str, str] = {}
    for pattern, value in values.items():
        for name in match_names(pattern, names, where):
            if name in assigned and assigned[name] != value:
                raise ModelshrinkError(
                    f"{where} {name!r} gets {assigned[name]} from {source[name]!r} and "
                    f"{value} from {pattern!r}; give each parameter one value"
                )
            assigned[name], source[name] = value, pattern
    return {name: assigned[name] for name in names if name in assigned}


def layer_names(names: Iterable[str]) -> list[str]:
    """The layers the parameters belong to (`sublayers.1` for
    `sublayers.1.layer.cudnn_gru.weight_ih_l0`), in model order."""
    return list(dict.fromkeys(".".join(name.split(".")[:2]) for name in names))


def assign_layers(values: Mapping[str, float], layers: Iterable[str]) -> dict[str, float]:
    """Expand structured-pruning keys to {layer: value}: a key is a layer (`sublayers.1`),
    a glob of layers (`sublayers.[1-5]`) or any parameter of a layer."""
    layers = list(layers)
    by_layer: dict[str, float] = {}
    for key, value in values.items():
        owner = next((layer for layer in layers if key.startswith(layer + ".")), None)
        by_layer[owner or key] = value
    return assign_values(by_layer, layers, where="layer")


def read_name_list(path: Path) -> list[str]:
    """The non-empty, stripped lines of an original-tool data.txt file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ModelshrinkError(f"cannot read {path}: {error.strerror}") from error
    return [line.strip() for line in text.splitlines() if line.strip()]
