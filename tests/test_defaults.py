"""Each default has one owner per side: the schema for the workflow, the dataclasses for
the library. Where both hold one (the workflow's value is handed to the library), they
must agree, or the CLI and the workflow would compute different things by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelshrink.basecaller.basecall import BasecallSettings
from modelshrink.basecaller.compress.spec import (
    PRUNE_METHODS,
    QUANTIZE_METHODS,
    FinetuneSpec,
    PruneSpec,
)
from modelshrink.cli import timing
from modelshrink.simulate.specs import ReadSpec

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema" / "config.schema.yaml"


def schema_property(*keys: str, root: str = "properties") -> dict[str, Any]:
    node = yaml.safe_load(SCHEMA.read_text())[root]
    for number, key in enumerate(keys):
        node = node[key] if number == 0 else node["properties"][key]
    return node


@pytest.mark.parametrize(
    ("config_key", "library_default"),
    [
        ("batch_size", BasecallSettings.batch_size),
        ("chunk_size", BasecallSettings.chunk_steps),
        ("overlap", BasecallSettings.overlap_steps),
    ],
)
def test_basecall_schema_defaults_are_the_library_defaults(
    config_key: str, library_default: int
) -> None:
    assert schema_property("basecall", config_key)["default"] == library_default


def test_the_simulated_chunk_length_is_the_finetuning_default() -> None:
    """The demo's training chunks fit fine-tuning without setting either."""
    assert ReadSpec().chunk_samples == FinetuneSpec().chunk_length == 4000


@pytest.mark.parametrize(
    ("stage", "methods"), [("prune", PRUNE_METHODS), ("quantize", QUANTIZE_METHODS)]
)
def test_methods_are_listed_once(stage: str, methods: tuple[str, ...]) -> None:
    """The schema names no method list of its own; the package checks the value."""
    method = schema_property("variant", stage, "method", root="$defs")
    assert "enum" not in method and method["default"] == methods[0]


@pytest.mark.parametrize(
    ("config_key", "cli_default"),
    [
        ("max_samples", timing.DEFAULT_MAX_SAMPLES),
        ("repeats", timing.DEFAULT_REPEATS),
        ("max_seconds", timing.DEFAULT_MAX_SECONDS),
    ],
)
def test_timing_schema_defaults_are_the_cli_defaults(config_key: str, cli_default: float) -> None:
    assert schema_property("timing", config_key)["default"] == cli_default


@pytest.mark.parametrize(
    ("keys", "library_default"),
    [
        (("prune", "iterations"), PruneSpec.iterations),
        (("finetune", "objective"), FinetuneSpec.objective),
    ],
)
def test_variant_schema_defaults_are_the_spec_defaults(
    keys: tuple[str, ...], library_default: object
) -> None:
    assert schema_property("variant", *keys, root="$defs")["default"] == library_default
