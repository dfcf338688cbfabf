"""Workflow inputs that users bring from other tools: a confident-regions BED for both
evaluators, a Clair3 2.x model folder checked at startup, downloads as localrules."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_workflow import (
    REPO,
    assert_fails_at_startup,
    copy_workflow,
    demo_config,
    planned_jobs,
    planned_wildcards,
    run_snakemake,
)


def test_missing_confident_regions_bed_fails_at_startup(tmp_path: Path) -> None:
    config = demo_config()
    config["evaluation"]["confident_regions"] = str(tmp_path / "nowhere.bed")
    workdir = copy_workflow(tmp_path / "wf", config)
    assert_fails_at_startup(
        workdir, r"^config key evaluation\.confident_regions: .*nowhere\.bed does not exist"
    )


def test_confident_regions_reach_both_evaluators(tmp_path: Path) -> None:
    bed = tmp_path / "confident.bed"
    bed.write_text("contig1\t0\t1000\n")
    for evaluator, command in (("builtin", "modelshrink evaluate"), ("happy", "hap.py")):
        config = demo_config()
        config["variants"] = {}
        config["evaluation"].update(evaluator=evaluator, confident_regions=str(bed))
        workdir = copy_workflow(tmp_path / evaluator, config)
        output = run_snakemake(workdir, "-n", "-p", "--cores", "1").stdout
        prefix = f"Shell command: {command}"
        lines = [line for line in output.splitlines() if line.startswith(prefix)]
        assert lines and all(f"-f {bed}" in line for line in lines), output[-3000:]


def test_clair3_model_folder_without_pytorch_files_fails_at_startup(tmp_path: Path) -> None:
    model = tmp_path / "r941_prom_hac_g360+g422"
    model.mkdir()
    (model / "pileup.index").write_text("")  # a Clair3 1.x (TensorFlow) folder
    config = demo_config()
    config["calling"]["caller"] = "clair3"
    config["calling"]["clair3"]["model_path"] = str(model)
    workdir = copy_workflow(tmp_path / "wf", config)
    assert_fails_at_startup(
        workdir,
        r"^config key calling\.clair3\.model_path: .* lacks pileup\.pt, full_alignment\.pt "
        r"\(it looks like a Clair3 1\.x TensorFlow model\); Clair3 2\.x needs",
    )


def test_clair3_default_model_comes_from_the_env_once(tmp_path: Path) -> None:
    config = demo_config()
    config["variants"] = {}
    config["calling"]["caller"] = "clair3"
    workdir = copy_workflow(tmp_path / "wf", config)
    output = run_snakemake(workdir, "-n", "--cores", "1").stdout
    jobs = planned_jobs(output)
    assert jobs["clair3_model"] == 1
    assert jobs["clair3_call"] == jobs["minimap2_align"]


def test_samples_sheet_test_config_plans_its_sample_alone(tmp_path: Path) -> None:
    """.test/config/samples.yaml (CI's samples-sheet config) replaces the demo."""
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(REPO / ".test", workdir / ".test")
    output = run_snakemake(
        workdir, "-n", "--cores", "1", "--configfile", ".test/config/samples.yaml"
    ).stdout
    samples = {
        wildcards["sample"] for wildcards in planned_wildcards(output) if "sample" in wildcards
    }
    assert samples == {"sheet_sample"}
    assert planned_jobs(output)["basecall_reads"] == 1
