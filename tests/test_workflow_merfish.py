"""The merFISH branch of the workflow: planned jobs, bad configs, a tiny real run, the report.

Runs Snakemake on a copy of the workflow like tests/test_workflow.py (whose helpers it uses).
The real run trains a width-1/8 network on 16x16 tiles for two epochs and builds float32 and
static int8 only (about a minute on 2 cores); it is marked `workflow`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_workflow import (
    copy_workflow,
    demo_config,
    planned_jobs,
    planned_wildcards,
    read_summary,
    run_snakemake,
)

from modelshrink.merfish import spec

REPO = Path(__file__).resolve().parents[1]
MERFISH_RULES = ("merfish_compress", "merfish_evaluate")

#: CI's merFISH-only config (.test/config/merfish.yaml)
TINY_MERFISH: dict[str, Any] = yaml.safe_load(
    (REPO / ".test" / "config" / "merfish.yaml").read_text()
)["merfish"]


def planned_merfish_variants(output: str) -> set[str]:
    return {w["merfish_variant"] for w in planned_wildcards(output) if "merfish_variant" in w}


def _schema() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())


# --- the schema describes exactly what the spec parser accepts -------------------------


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        (spec.SimulationSpec, ("properties", "merfish", "properties", "simulation")),
        (spec.ModelSpec, ("properties", "merfish", "properties", "model")),
        (spec.TrainSpec, ("properties", "merfish", "properties", "train")),
        (spec.VariantSpec, ("$defs", "merfish_variant")),
    ],
)
def test_schema_defaults_are_the_spec_defaults(kind: type, path: tuple[str, ...]) -> None:
    """The schema fills defaults into the config; they must be the parser's own, or a key
    left out of config.yaml would mean two different things."""
    section: Any = _schema()
    for key in path:
        section = section[key]
    properties = section["properties"]
    fields = {field.name: field.default for field in dataclasses.fields(kind)}
    assert set(properties) == set(fields)
    for name, default in fields.items():
        assert properties[name]["default"] == default, name
        assert properties[name]["description"], name


def test_schema_methods_are_the_spec_methods() -> None:
    method = _schema()["$defs"]["merfish_variant"]["properties"]["method"]
    assert tuple(method["enum"]) == spec.METHODS


# --- dry runs -------------------------------------------------------------------------


def test_dry_run_plans_every_merfish_variant(tmp_path: Path) -> None:
    config = demo_config()
    variants = config["merfish"]["variants"]
    workdir = copy_workflow(tmp_path / "wf")
    result = run_snakemake(workdir, "-n", "--cores", "2")
    jobs = planned_jobs(result.stdout)
    for rule in ("merfish_simulate", "merfish_train", "merfish_report", "merfish_plots"):
        assert jobs.get(rule) == 1, (rule, jobs)
    for rule in MERFISH_RULES:
        assert jobs.get(rule) == len(variants), (rule, jobs)
    assert planned_merfish_variants(result.stdout) == set(variants)
    # the demo shows every method the family has
    assert {variant["method"] for variant in variants.values()} == set(spec.METHODS)


def test_dry_run_disabled_plans_no_merfish_job(tmp_path: Path) -> None:
    config = demo_config()
    config["merfish"]["enabled"] = False
    workdir = copy_workflow(tmp_path / "wf", config)
    jobs = planned_jobs(run_snakemake(workdir, "-n", "--cores", "2").stdout)
    assert not [rule for rule in jobs if rule.startswith("merfish")], jobs


def test_dry_run_user_data_is_not_simulated(tmp_path: Path) -> None:
    data = tmp_path / "merfish_data"
    for split in ("train", "val", "test"):
        (data / split).mkdir(parents=True)
    config = demo_config()
    config["merfish"]["data"] = str(data)
    workdir = copy_workflow(tmp_path / "wf", config)
    result = run_snakemake(workdir, "-n", "-p", "--cores", "2", "merfish_all")
    jobs = planned_jobs(result.stdout)
    assert "merfish_simulate" not in jobs and jobs["merfish_train"] == 1, jobs
    assert f"--data {data}" in result.stdout


# --- bad merFISH configs fail at startup with one clear message ------------------------


def _set(path: str, value: Any) -> Any:
    def change(merfish: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = merfish
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value

    return change


@pytest.mark.parametrize(
    ("break_config", "message"),
    [
        (
            _set("simulation.emitters", 3),
            r"config key merfish\.simulation: .*'emitters' was unexpected",
        ),
        (
            _set("simulation.image_size", 30),
            r"merfish\.simulation\.image_size: expected a multiple of 4",
        ),
        (
            _set("variants.pruned50_ft.sparsity", 1.5),
            r"merfish\.variants\.pruned50_ft\.sparsity: expected 0 <= sparsity < 1",
        ),
        (_set("variants", {}), r"config key merfish\.variants: no variants"),
        (
            _set("data", "/nowhere/merfish"),
            r"config key merfish\.data: /nowhere/merfish lacks the split folder\(s\) "
            r"train, val, test",
        ),
    ],
)
def test_bad_merfish_config_fails_at_startup(
    tmp_path: Path, break_config: Any, message: str
) -> None:
    config = demo_config()
    break_config(config["merfish"])
    workdir = copy_workflow(tmp_path / "wf", config)
    result = run_snakemake(workdir, "-n", "--cores", "1", check=False)
    assert result.returncode != 0
    errors = result.stdout + result.stderr
    assert re.search(message, errors), errors
    assert "Traceback" not in errors


# --- a tiny real run of the merFISH branch alone ----------------------------------------


@pytest.fixture(scope="module")
def merfish_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = demo_config()
    config["merfish"] = TINY_MERFISH
    workdir = copy_workflow(tmp_path_factory.mktemp("merfish") / "wf", config)
    run_snakemake(workdir, "--cores", "2", "merfish_all")
    return workdir


@pytest.mark.workflow
def test_tiny_merfish_run_summary(merfish_run: Path) -> None:
    results = merfish_run / "results" / "merfish"
    rows = {row["variant"]: row for row in read_summary(results / "summary.tsv")}
    assert sorted(rows) == ["float32", "static_int8"]
    reference, int8 = rows["float32"], rows["static_int8"]
    assert (reference["method"], reference["stored_as"]) == ("float32", "float32")
    assert (int8["method"], int8["stored_as"]) == ("static", "static_int8")
    assert float(reference["compression_ratio"]) == 1.0 and float(reference["speedup"]) == 1.0
    # int8 codes are 4x smaller; scales, biases and the header weigh most at width 1/8
    assert float(int8["compression_ratio"]) > 2.5
    assert int(int8["bytes"]) == (results / "variants" / "static_int8.safetensors").stat().st_size
    assert reference["execution_path"] == "eager float32"
    assert reference["int8_convolutions"] == "NA"
    assert int8["execution_path"].startswith("onednn int8 conv + ")
    assert int(int8["int8_convolutions"]) > 0 and float(int8["speedup"]) > 0
    assert int(int8["tiles_per_call"]) == 2  # the whole (tiny) test split per timed call
    for row in rows.values():
        for column in ("position_accuracy", "position_jaccard", "barcode_accuracy"):
            assert 0.0 <= float(row[column]) <= 1.0, column
        assert 0.0 < float(row["position_average_precision"]) <= 1.0
        assert 0.0 < float(row["ms_per_tile"]) < 10_000 and row["threads"] == "1"
        assert int(row["tiles"]) == 2 and int(row["parameters"]) > 0
    # int8 scores stay near float32 (at this size both are poor detectors)
    assert abs(float(int8["barcode_accuracy"]) - float(reference["barcode_accuracy"])) < 0.3
    for plot in ("size_vs_accuracy.svg", "speed.svg", "curves.png"):
        assert (results / "plots" / plot).stat().st_size > 5000, plot
    assert all((results / "maps" / f"{name}.png").is_file() for name in rows)
    benchmarks = merfish_run / "benchmarks" / "merfish"
    for name in ("train.tsv", "compress/static_int8.tsv", "evaluate/static_int8.tsv"):
        assert (benchmarks / name).is_file(), name


@pytest.mark.workflow
def test_editing_one_merfish_variant_reruns_only_it(merfish_run: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((merfish_run / "config" / "config.yaml").read_text())
    config["merfish"]["variants"]["static_int8"]["calibration_tiles"] = 3
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    args = ("-n", "--cores", "2", "merfish_all")
    result = run_snakemake(merfish_run, *args, "--configfile", str(edited))
    jobs = planned_jobs(result.stdout)
    assert jobs.get("merfish_compress") == jobs.get("merfish_evaluate") == 1, jobs
    assert "merfish_train" not in jobs and "merfish_simulate" not in jobs, jobs
    assert planned_merfish_variants(result.stdout) == {"static_int8"}
    unchanged = run_snakemake(merfish_run, *args)
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr


@pytest.mark.workflow
def test_tiny_merfish_report_html(merfish_run: Path) -> None:
    run_snakemake(merfish_run, "--report", "report.html", "merfish_all")
    html = (merfish_run / "report.html").read_text(errors="replace")
    assert "merFISH" in html
    for name in ("summary.tsv", "size_vs_accuracy.svg", "speed.svg", "curves.png"):
        assert name in html, name
