"""The workflow's training data: the demo fetches real mapped-signal reads (checksummed,
local copies accepted), trained variants get the sources their objective can use, and
configs that would train on labels without any, or evaluate on training reads, stop at
startup."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from test_workflow import copy_workflow, demo_config, planned_jobs, run_snakemake

FETCHED = ["resources/training/mapped_signal_0.hdf5", "resources/training/mapped_signal_1.hdf5"]


def local_copies(shared_data: Path) -> list[dict[str, str]]:
    """training.mapped_signal pointing at the shared copies, as an offline user sets it."""
    return [
        {"source": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for path in sorted((shared_data / "taiyaki" / "mapped_signal").glob("*.hdf5"))
    ]


def planned_shell(output: str, rule: str) -> dict[str, str]:
    """wildcards -> (input, shell command) text of every planned job of `rule`."""
    jobs = {}
    for job in output.split("\nrule ")[1:]:
        if job.startswith(f"{rule}:"):
            fields = dict(re.findall(r"^\s*(input|wildcards|Shell command): (.*)$", job, re.M))
            jobs[fields["wildcards"]] = f"{fields.get('input', '')}\n{fields['Shell command']}"
    return jobs


def test_dry_run_fetches_the_real_training_reads(tmp_path: Path, shared_data: Path) -> None:
    config = demo_config()
    config["training"]["mapped_signal"] = local_copies(shared_data)
    config["merfish"]["enabled"] = False
    workdir = copy_workflow(tmp_path / "wf", config)
    output = run_snakemake(workdir, "-n", "--cores", "2", "-p").stdout
    assert planned_jobs(output)["training_fetch"] == 2
    fetches = planned_shell(output, "training_fetch")
    for index, entry in enumerate(config["training"]["mapped_signal"]):
        command = fetches[f"index={index}"]
        assert f"modelshrink fetch {entry['source']} {FETCHED[index]}" in command
        assert f"--sha256 {entry['sha256']}" in command
    compress = planned_shell(output, "compress_model")
    for variant in ("pruned_v1", "pruned_v2", "pruned50_ft"):
        assert f"--training {' '.join(FETCHED)} " in compress[f"variant={variant}"], variant
        assert "training_chunks.hdf5" not in compress[f"variant={variant}"], variant
    assert "--training" not in compress["variant=fp16"]


def test_raw_reads_serve_distillation_and_simulated_chunks_are_opt_in(
    tmp_path: Path, shared_data: Path
) -> None:
    """Raw reads go to the distilled variant only (crf needs labels); training.simulated
    adds the demo's chunks to every trained variant."""
    reads = str(shared_data / "taiyaki" / "multireads")
    config = demo_config()
    config["training"] = {"mapped_signal": local_copies(shared_data), "reads": [reads]}
    config["training"]["simulated"] = True
    config["merfish"]["enabled"] = False
    workdir = copy_workflow(tmp_path / "wf", config)
    compress = planned_shell(
        run_snakemake(workdir, "-n", "--cores", "2", "-p").stdout, "compress_model"
    )
    chunks = "results/demo/training_chunks.hdf5"
    assert f"--training {' '.join(FETCHED)} {chunks} {reads} " in compress["variant=pruned50_ft"]
    assert f"--training {' '.join(FETCHED)} {chunks} --threads" in compress["variant=pruned_v1"]


def _crf_on_reads_only(config: dict[str, Any], shared_data: Path) -> None:
    config["training"] = {"mapped_signal": [], "reads": [str(shared_data / "taiyaki" / "reads")]}


def _no_training_data(config: dict[str, Any], shared_data: Path) -> None:
    config["training"] = {"mapped_signal": []}


def _evaluated_reads_in_training(config: dict[str, Any], shared_data: Path) -> None:
    taiyaki = shared_data / "taiyaki"
    sheet = Path(config.pop("_workdir")) / "samples.tsv"
    sheet.write_text(
        "sample\treads\treference\n"
        f"real\t{taiyaki / 'reads'}\t{taiyaki / 'genomic_reference.fasta'}\n"
    )
    config["samples"] = str(sheet)
    config["training"]["reads"] = [str(taiyaki)]


def _simulated_chunks_of_another_length(config: dict[str, Any], shared_data: Path) -> None:
    config["training"]["simulated"] = True
    config["variants"]["pruned50_ft"]["finetune"]["chunk_length"] = 2000


@pytest.mark.parametrize(
    ("break_config", "message"),
    [
        (
            _crf_on_reads_only,
            "variants ['pruned_v1', 'pruned_v2'] train on labels (finetune.objective crf or "
            "mixed), but training.reads are raw reads without them",
        ),
        (
            _no_training_data,
            "fine-tune or calibrate OBS pruning or GPTQ but there is no training data",
        ),
        (
            _evaluated_reads_in_training,
            "training.reads: {taiyaki} holds the reads of sample 'real'",
        ),
        (
            _simulated_chunks_of_another_length,
            "variants ['pruned50_ft']: finetune.chunk_length must equal "
            "simulate.reads.chunk_samples (4000)",
        ),
    ],
)
def test_bad_training_config_fails_at_startup(
    tmp_path: Path, shared_data: Path, break_config: Any, message: str
) -> None:
    config = demo_config()
    config["_workdir"] = str(tmp_path)
    break_config(config, shared_data)
    config.pop("_workdir", None)
    workdir = copy_workflow(tmp_path / "wf", config)
    result = run_snakemake(workdir, "-n", "--cores", "2", check=False)
    assert result.returncode != 0
    expected = message.format(taiyaki=shared_data / "taiyaki")
    assert expected in result.stdout + result.stderr
