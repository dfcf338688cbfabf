"""Reading the workflow's config files before Snakemake does, and merging them as users mean.

Snakemake reports a YAML syntax error in a config file without naming the file or the
line, and merges a user's config over the demo's key by key, so a user file listing one
variant would still run the demo's eight beside it. Both are fixed here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from modelshrink.errors import ModelshrinkError

#: config keys holding collections of named things: a user's value replaces the demo's
#: whole instead of being merged into it
NAMED_COLLECTIONS = (("variants",), ("merfish", "variants"))


def check_yaml_syntax(path: str | Path) -> None:
    """A ModelshrinkError naming the file, line and column of a YAML syntax error. (A
    user's --configfile is read by Snakemake before the workflow starts, so its errors
    cannot be caught here: config/README.md.)"""
    if not Path(path).is_file():
        return  # Snakemake's configfile: says what is missing
    try:
        with open(path, encoding="utf-8") as handle:
            yaml.safe_load(handle)
    except yaml.MarkedYAMLError as error:
        mark, start = error.problem_mark, error.context_mark
        context = f" ({error.context}" if error.context else ""
        if context and start and start.line != mark.line:
            context += f" that starts on line {start.line + 1}"
        context += ")" if context else ""
        raise ModelshrinkError(
            f"{path} line {mark.line + 1}, column {mark.column + 1}: not valid YAML: "
            f"{error.problem}{context}"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ModelshrinkError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None


def given_value(source: Any, keys: Sequence[str]) -> tuple[bool, Any]:
    """(True, value) when the mapping `source` sets the nested key `keys`, else (False, None)."""
    for key in keys:
        if not isinstance(source, Mapping) or key not in source:
            return False, None
        source = source[key]
    return True, source


def replace_named_collections(
    config: MutableMapping[str, Any], sources: Sequence[Mapping[str, Any]]
) -> None:
    """For NAMED_COLLECTIONS, the value from the last of the user's `sources` (--configfile
    files, then --config) that gives the key replaces the merged value whole."""
    for keys in NAMED_COLLECTIONS:
        given = [value for found, value in (given_value(s, keys) for s in sources) if found]
        found, parent = given_value(config, keys[:-1])
        if given and found and isinstance(parent, dict):
            parent[keys[-1]] = copy.deepcopy(given[-1])
