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
    spec = json.loads(plan.settings("compress/pruned50_int7"))
    quantize = {"scheme": "dynamic_int8", "bits": 7}
    assert spec == {"description": spec["description"], "quantize": quantize}


def test_each_sensitivity_job_reads_only_its_own_keys(plan: WorkflowPlan) -> None:
    """The scan, the proposer and the merFISH scan share one config section."""
    section = plan.config["sensitivity"]
    read = {
        kind: json.loads(plan.settings(f"sensitivity/{kind}"))["sensitivity"]
        for kind in ("scan", "propose", "merfish")
    }
    assert read["merfish"] == {"sparsities": section["sparsities"], "bits": section["bits"]}
    assert read["propose"]["verify_reads"] == section["verify_reads"]
    assert "reads" in read["scan"] and "budget_points" not in read["scan"]
    assert all("enabled" not in keys for keys in read.values())


def test_the_proposed_variant_is_planned_when_the_scan_is_on(plan: WorkflowPlan) -> None:
    assert plan.config["sensitivity"]["enabled"]
    assert plan.variants == ["original", *plan.config["variants"], "proposed"]
    assert "results/sensitivity/basecaller.tsv" in plan.final_outputs()


def test_timing_reads_the_basecall_settings_but_not_the_engine(plan: WorkflowPlan) -> None:
    """`modelshrink timing` always times PyTorch; basecall.engine is for basecalling."""
    plan.config["basecall"]["engine"] = "onnx"
    assert json.loads(plan.settings("basecall"))["basecall"]["engine"] == "onnx"
    assert "engine" not in json.loads(plan.settings("timing"))["basecall"]


def test_an_unknown_settings_file_is_named(plan: WorkflowPlan) -> None:
    with pytest.raises(ModelshrinkError, match="no settings file named 'compress/nonsense'"):
        plan.settings("compress/nonsense")
