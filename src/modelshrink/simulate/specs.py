"""Typed simulation settings, parsed once from a config section or command-line flags.

Config layout (all keys optional; the defaults below make the demo data):

```yaml
simulate:
  genome:   {length: 50000, gc: 0.5, contigs: 1, seed: 1}
  variants: {snps: 100, indels: 20, max_indel: 10, homopolymer_fraction: 0.3,
             min_gap: 10, sample_name: sample, seed: 2}
  reads:    {coverage: 20, mean_length: 5000, length_sd: 2500, min_length: 500,
             chunk_samples: 4000, seed: 3,
             signal: {dwell_shape: 4.0, noise_scale: 1.0, level_jitter: 0.0, ...}}
```

`signal` keys are the fields of `modelshrink.simulate.signal.SignalSpec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.signal import SignalSpec

T = TypeVar("T")
_CASTS = {"int": int, "float": float, "str": str}


@dataclass(frozen=True)
class GenomeSpec:
    length: int = 50_000
    gc: float = 0.5
    contigs: int = 1
    seed: int = 1


@dataclass(frozen=True)
class VariantSpec:
    snps: int = 100
    indels: int = 20
    max_indel: int = 10
    homopolymer_fraction: float = 0.3
    min_gap: int = 10
    sample_name: str = "sample"
    seed: int = 2


@dataclass(frozen=True)
class ReadSpec:
    coverage: float = 20.0
    mean_length: float = 5000.0
    length_sd: float = 2500.0
    min_length: int = 500
    chunk_samples: int = 4000
    seed: int = 3
    signal: SignalSpec = field(default_factory=SignalSpec)


def spec_from_mapping(kind: type[T], values: Mapping[str, Any] | None, where: str) -> T:
    """Build `kind` from a config mapping, naming the key on unknown keys or bad values."""
    values = dict(values or {})
    fields = {item.name: item for item in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ModelshrinkError(
            f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(fields)}"
        )
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        type_name = str(fields[name].type)
        if type_name == "SignalSpec":
            if not isinstance(value, Mapping):
                raise ModelshrinkError(f"{where}.{name}: expected a mapping of signal settings")
            parsed[name] = spec_from_mapping(SignalSpec, value, f"{where}.{name}")
            continue
        cast = _CASTS[type_name]
        if isinstance(value, bool) or (cast is int and isinstance(value, float)):
            raise ModelshrinkError(f"{where}.{name}: expected {type_name}, got {value!r}")
        try:
            parsed[name] = cast(value)
        except (TypeError, ValueError) as error:
            raise ModelshrinkError(
                f"{where}.{name}: expected {type_name}, got {value!r}"
            ) from error
    return kind(**parsed)
