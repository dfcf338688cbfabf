"""The settings file the workflow hands a command (`--settings FILE`).

One convention for every rule (rules/settings.smk): the job's slice of config.yaml,
under the same keys, written as JSON by the settings_write rule. JSON files are read as
JSON, not as YAML: YAML 1.1 reads JSON's `1e-05` as a string. Other files are YAML (a
user's own config.yaml works too).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelshrink.errors import ModelshrinkError


def read_settings_file(path: Path, option: str = "--settings") -> dict[str, Any]:
    """The mapping at the top of a JSON (by its .json suffix) or YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ModelshrinkError(f"{option} {path}: cannot read it ({error.strerror})") from error
    import yaml

    try:
        value = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ModelshrinkError(f"{option} {path}: not valid JSON/YAML ({error})") from error
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelshrinkError(f"{option} {path}: expected a mapping at the top")
    return value


def settings_section(settings: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    """settings[key] as a mapping ({} when absent), or an error naming the file and key."""
    section = settings.get(key) or {}
    if not isinstance(section, dict):
        raise ModelshrinkError(f"{path}: {key}: expected a mapping")
    return section


def apply_settings_file(
    args: argparse.Namespace, sections: Mapping[str, Mapping[str, str]]
) -> None:
    """Set the options named by each section of the --settings file ({section: {key:
    dest}}, a section may be dotted: merfish.evaluation); a key the command does not know
    is an error naming the file."""
    if args.settings is None:
        return
    settings = read_settings_file(args.settings)
    for section, dests in sections.items():
        values: dict[str, Any] = settings
        for key in section.split("."):
            values = settings_section(values, key, args.settings)
        for key, value in values.items():
            if f"{section}.{key}" in sections:
                continue  # a nested section of its own
            if key not in dests:
                raise ModelshrinkError(
                    f"{args.settings}: unknown setting {section}.{key}; expected one of "
                    f"{', '.join(dests)}"
                )
            setattr(args, dests[key], value)
