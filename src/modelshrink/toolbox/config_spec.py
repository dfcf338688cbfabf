"""Typed specs from config mappings: one checker of key names and value types for all families.

Code below the CLI sees frozen dataclasses, never raw dicts (STYLE.md). Every family turns a
config section into such a spec the same way, so the rules live here once: an unknown key or
a value of the wrong type fails with a message naming the dotted config key, before any heavy
work starts.

Types come from the dataclass annotations: `int` takes integers (not booleans, not 2.5),
`float` takes integers or floats (not booleans), `str` takes strings and, as YAML reads bare
names like `1` as numbers, numbers written as names; a dataclass-typed field (e.g. the
simulator's nested `signal:` section) takes a mapping, parsed recursively. A spec with a
`validate(where)` method is validated after it is built, so range checks name the key too.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from modelshrink.errors import ModelshrinkError

SpecT = TypeVar("SpecT")


def _expected(kind: type, value: Any, where: str) -> Any:
    """`value` as a `kind` field value, or a ModelshrinkError naming `where`."""
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            section = where.rpartition(".")[2]
            raise ModelshrinkError(f"{where}: expected a mapping of {section} settings")
        return spec_from_mapping(kind, value, where)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is float and is_number:
        return float(value)
    if kind is int and is_number and isinstance(value, int):
        return value
    if kind is str and (isinstance(value, str) or is_number):
        return str(value)
    plain = isinstance(kind, type) and kind not in (int, float, str)
    if plain and isinstance(value, kind):  # e.g. bool
        return value
    raise ModelshrinkError(f"{where}: expected {getattr(kind, '__name__', kind)}, got {value!r}")


def spec_from_mapping(kind: type[SpecT], values: Mapping[str, Any] | None, where: str) -> SpecT:
    """Build the dataclass `kind` from a config mapping; missing keys keep their defaults."""
    values = dict(values or {})
    names = [field.name for field in dataclasses.fields(kind)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ModelshrinkError(
            f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(names)}"
        )
    hints = typing.get_type_hints(kind)
    parsed = {
        name: _expected(hints[name], value, f"{where}.{name}") for name, value in values.items()
    }
    try:
        spec = kind(**parsed)
    except TypeError as error:  # a field without a default that the mapping lacks
        raise ModelshrinkError(f"{where}: {error}") from error
    validate = getattr(spec, "validate", None)
    if callable(validate):
        validate(where)
    return spec
