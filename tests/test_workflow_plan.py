"""The workflow's plan: which settings file a job reads and what is in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelshrink.errors import ModelshrinkError
from modelshrink.workflow.plan import WorkflowPlan

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
SAMPLES = {"demo": {"reads": "r.fast5", "reference": "ref.fasta", "truth_vcf": "t.vcf.gz"}}


@pytest.fixture()
def plan() -> WorkflowPlan:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    config["basecall"] = {"batch_size": 128, "chunk_size": 1000, "overlap": 100, "device": "auto"}
    return WorkflowPlan(config, SAMPLES)


def test_a_merfish_variant_reads_only_its_own_spec(plan: WorkflowPlan) -> None:
    """Editing one merFISH variant must rerun that variant alone."""
    settings = json.loads(plan.settings("merfish/compress/static_int8"))["merfish"]
    assert list(settings["variants"]) == ["static_int8"]
    assert settings["train"] == plan.config["merfish"]["train"]


def test_the_report_manifest_has_a_row_per_variant_and_sample(plan: WorkflowPlan) -> None:
    rows = json.loads(plan.settings("report/summary"))["manifest"]
    assert [row["variant"] for row in rows] == plan.variants
    assert rows[0]["compress_report"] is None and rows[1]["compress_report"].endswith(
        f"{plan.variants[1]}.report.json"
    )


def test_a_compress_settings_file_is_the_spec_without_base(plan: WorkflowPlan) -> None:
    spec = json.loads(plan.settings("compress/pruned_v1_fp16"))
    assert spec == {"description": spec["description"], "quantize": {"scheme": "float16"}}


def test_an_unknown_settings_file_is_named(plan: WorkflowPlan) -> None:
    with pytest.raises(ModelshrinkError, match="no settings file named 'compress/nonsense'"):
        plan.settings("compress/nonsense")
