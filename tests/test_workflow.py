"""The Snakemake workflow: formatting, lint, dry runs, bad configs, a tiny real run.

Each test copies the workflow (Snakefile, rules, config, envs, scripts, report,
profiles) into a temporary folder, as a user's checkout, and runs Snakemake there with
the tools of this environment on PATH. The real run needs the pretrained checkpoint
(shared test data) and takes about a minute on 2 cores; it is marked `workflow`.
"""

from __future__ import annotations

import copy
import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pysam
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "rules", "config", "envs", "scripts", "report", "profiles")
BIN = Path(sys.executable).parent

#: CI's configs (.test/config/), which users can run too
TEST_CONFIGS = REPO / ".test" / "config"
#: original + one fast variant (10 % magnitude pruning) on a 20 kb genome at 8x
BASIC = yaml.safe_load((TEST_CONFIGS / "basic.yaml").read_text())
TINY_VARIANTS: dict[str, Any] = BASIC["variants"]
TINY_SIMULATION: dict[str, Any] = BASIC["simulate"]


def snakemake_env() -> dict[str, str]:
    """This environment's tools first on PATH; Slurm's client told there is no cluster.

    Every Snakemake start imports the Slurm executor plugin (installed for profiles/slurm),
    which runs `scontrol show config`; where a slurm.conf names a controller that is not
    running (as after ci/slurm_test.sh), scontrol retries for 9 s each time. These runs are
    local, so an empty SLURM_CONF makes scontrol fail at once."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["SLURM_CONF"] = os.devnull
    return env


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def copy_workflow(workdir: Path, config: dict[str, Any] | None = None) -> Path:
    """A user's checkout of the workflow in `workdir`, with `config` as its config.yaml."""
    workdir.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, workdir / part, dirs_exist_ok=True)
        else:
            shutil.copy2(source, workdir / part)
    if config is not None:
        write_config(workdir, config)
    return workdir


def demo_config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def write_config(workdir: Path, config: dict[str, Any]) -> None:
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def planned_jobs(output: str) -> dict[str, int]:
    """rule -> count from the job stats table of a dry run."""
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def planned_wildcards(output: str) -> list[dict[str, str]]:
    """The wildcards of every job a dry run lists."""
    found = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("wildcards:"):
            pairs = line.removeprefix("wildcards:").split(",")
            found.append(dict(pair.strip().split("=", 1) for pair in pairs if "=" in pair))
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- static checks ----------------------------------------------------------------


def test_snakefmt_check() -> None:
    snakefmt = shutil.which("snakefmt", path=str(BIN)) or shutil.which("snakefmt")
    if snakefmt is None:
        pytest.skip("snakefmt not installed (pip install snakefmt)")
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "rules").glob("*.smk"))]
    result = subprocess.run([snakefmt, "--check", *files], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_is_clean(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    result = run_snakemake(workdir, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


# --- dry runs -------------------------------------------------------------------------


def test_dry_run_demo_config_plans_every_variant(tmp_path: Path) -> None:
    config = demo_config()
    workdir = copy_workflow(tmp_path / "wf")
    result = run_snakemake(workdir, "-n", "--cores", "2")
    jobs = planned_jobs(result.stdout)
    proposed = int(config["sensitivity"]["enabled"])  # the sensitivity proposer's variant
    variants = len(config["variants"]) + proposed
    assert jobs["compress_model"] == variants - proposed
    assert jobs["compress_proposed"] == jobs["sensitivity_scan"] == proposed
    for rule in ("basecall_reads", "read_identity", "miniasm_assemble", "modelshrink_call"):
        assert jobs[rule] == variants + 1, rule
    assert jobs["calling_usage"] == variants + 1
    assert jobs["modelshrink_evaluate"] == variants + 1
    assert jobs["racon_polish"] == 2 * (variants + 1)
    assert jobs["report_summary"] == jobs["report_plots"] == 1
    # every variant on the five real reads; one timing job per sample
    assert jobs["real_reads_fetch"] == len(config["real_reads"]["reads"]) == 5
    assert jobs["basecall_real_reads"] == jobs["real_read_identity"] == variants + 1
    assert jobs["basecall_timing"] == 1


@pytest.mark.parametrize(("fastq_bytes", "threads"), [(1_000, 1), (30_000_000, 2)])
def test_tools_take_one_thread_on_small_inputs(
    tmp_path: Path, fastq_bytes: int, threads: int
) -> None:
    """A demo-sized minimap2 / identity job runs on one core beside a basecall instead
    of waiting for both; real data gets TOOL_THREADS (sizes as on disk, sparse here)."""
    workdir = copy_workflow(tmp_path / "wf")
    fastq = workdir / "results" / "basecalls" / "original" / "demo.fastq.gz"
    reference = workdir / "results" / "reference" / "demo.fasta"
    for path in (fastq, reference):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    os.truncate(fastq, fastq_bytes)
    target = "results/identity/original/demo.tsv"
    output = run_snakemake(workdir, "-n", "-p", "--cores", "4", target).stdout
    job = output.split("rule read_identity:", 1)[1]
    assert f" --threads {threads} " in job.split("Shell command: ", 1)[1], job


def test_timing_job_holds_every_core_and_times_with_basecall_threads(tmp_path: Path) -> None:
    """Alone on the cores: the job reserves all --cores (the scheduler runs nothing
    beside it) while timing with two basecalling threads, as a user runs basecall."""
    workdir = copy_workflow(tmp_path / "wf")
    output = run_snakemake(workdir, "-n", "-p", "--cores", "3", "results/timing/demo.tsv").stdout
    job = output.split("rule basecall_timing:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^\s+threads: 3$", job, re.MULTILINE), job
    command = job.split("Shell command: ", 1)[1]
    assert command.startswith("modelshrink timing original=results/models/original.safetensors ")
    assert "--threads 2 " in command and "--settings results/settings/timing.json" in command
    run_snakemake(workdir, "--cores", "1", "results/settings/timing.json")
    settings = json.loads((workdir / "results" / "settings" / "timing.json").read_text())
    assert settings["timing"]["repeats"] == 3 and settings["basecall"]["chunk_size"] == 1000


def test_dry_run_compresses_a_variant_from_its_base(tmp_path: Path) -> None:
    config = demo_config()
    config["variants"] = {
        "pruned": TINY_VARIANTS["pruned10"],
        "pruned_fp16": {"base": "pruned", "quantize": {"scheme": "float16"}},
    }
    workdir = copy_workflow(tmp_path / "wf", config)
    output = run_snakemake(workdir, "-n", "--cores", "2").stdout
    inputs = {}
    for job in output.split("\nrule ")[1:]:
        fields = dict(re.findall(r"^\s+(input|wildcards): (.*)$", job, re.MULTILINE))
        if job.startswith("compress_model:"):
            inputs[fields["wildcards"]] = fields["input"]
    settings = "results/settings/compress/{}.json"
    assert (
        inputs["variant=pruned"]
        == f"results/models/original.safetensors, {settings.format('pruned')}"
    )
    assert inputs["variant=pruned_fp16"] == (
        f"results/models/pruned.safetensors, {settings.format('pruned_fp16')}"
    )


@pytest.mark.parametrize(
    ("assembler", "caller", "evaluator", "expected"),
    [
        ("flye", "freebayes", "happy", ["flye_assemble", "freebayes_call", "happy_evaluate"]),
        ("reference", "nanopolish", "builtin", ["reference_guided_assemble", "nanopolish_call"]),
    ],
)
def test_dry_run_tool_choices(
    tmp_path: Path, assembler: str, caller: str, evaluator: str, expected: Sequence[str]
) -> None:
    config = demo_config()
    config["variants"] = {}
    config["assembly"]["assembler"] = assembler
    config["calling"]["caller"] = caller
    config["evaluation"]["evaluator"] = evaluator
    config["polish"]["nanopolish"] = True
    config["sensitivity"]["enabled"] = False  # no proposed variant: the original alone
    workdir = copy_workflow(tmp_path / "wf", config)
    jobs = planned_jobs(run_snakemake(workdir, "-n", "--cores", "2").stdout)
    for rule in [*expected, "nanopolish_polish", "nanopolish_index"]:
        assert jobs.get(rule, 0) >= 1, (rule, jobs)
    # identity after each stage of the one (original) assembly: draft, racon, nanopolish
    assert jobs["assembly_identity"] == 3


# --- bad configs fail at startup with one clear message -----------------------------


def _sparsity_1_5(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["pruned_v1"]["prune"]["sparsity"]["sublayers.*.cudnn_gru.weight_ih_l0"] = 1.5


def _unknown_variant_key(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["fp16"]["quantise"] = {"scheme": "float16"}


def _unknown_parameter(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["pruned_v1"]["prune"]["sparsity"] = {"sublayers.9.gru.weight": 0.5}


def _unknown_base(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["fp16"]["base"] = "pruned_v3"


def _quantized_base(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["pruned_v2"]["base"] = "scale8"


def _base_cycle(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["pruned_v1"]["base"] = "pruned_v2"
    config["variants"]["pruned_v2"]["base"] = "pruned_v1"


def _simulate_typo(config: dict[str, Any], workdir: Path) -> None:
    config["simulate"]["reads"]["coverag"] = 3


def _overlap_not_below_chunk(config: dict[str, Any], workdir: Path) -> None:
    config["basecall"] = {"overlap": 1000}  # the schema's default chunk_size


def _obs_on_convolution(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["pruned50_ft"]["prune"]["sparsity"] = {"sublayers.0.conv.weight": 0.5}


def _structured_output_layer(config: dict[str, Any], workdir: Path) -> None:
    config["variants"]["pruned_v1"]["prune"] = {
        "method": "structured",
        "sparsity": {"sublayers.6.linear.weight": 0.2},
    }


def _real_read_not_fast5(config: dict[str, Any], workdir: Path) -> None:
    config["real_reads"]["reads"][0]["source"] = "/data/reads.fastq"


def _missing_reads(config: dict[str, Any], workdir: Path) -> None:
    sheet = workdir / "samples.tsv"
    sheet.write_text(
        "sample\treads\treference\n"
        f"mine\t{workdir / 'nowhere' / 'reads.pod5'}\t{workdir / 'Snakefile'}\n"
    )
    config["samples"] = str(sheet)


@pytest.mark.parametrize(
    ("break_config", "message"),
    [
        (_sparsity_1_5, r"config key variants\.pruned_v1\.prune\.sparsity\..*1\.5"),
        (_unknown_variant_key, r"config key variants\.fp16: .*'quantise' was unexpected"),
        (_unknown_parameter, r"variants\.pruned_v1\.prune\.sparsity.*sublayers\.9\.gru\.weight"),
        (_unknown_base, r"variants\.fp16\.base: 'pruned_v3' is not a variant; expected one of"),
        (_quantized_base, r"variants\.pruned_v2\.base: 'scale8' is quantized; a variant can"),
        (_base_cycle, r"v1\.base: the bases form a cycle pruned_v1 -> pruned_v2 -> pruned_v1"),
        (_simulate_typo, r"simulate\.reads: unknown key\(s\) coverag"),
        (_real_read_not_fast5, r"real_reads\.reads\[0\]\.source: /data/reads\.fastq does not end"),
        (_missing_reads, r"samples\.tsv line 2: sample 'mine': reads path .* does not exist"),
        (
            _overlap_not_below_chunk,
            r"^config key basecall\.overlap: 1000 must be smaller than basecall\.chunk_size "
            r"\(1000\); both count network steps$",
        ),
        (
            _obs_on_convolution,
            r"^config: variants\.pruned50_ft\.prune\.sparsity: method obs prunes GRU weight "
            r"matrices only, not sublayers\.0\.conv\.weight; expected names or globs of GRU",
        ),
        (
            _structured_output_layer,
            r"^config: variants\.pruned_v1\.prune\.sparsity: sublayers\.6 is the output layer, "
            r"whose units structured pruning cannot remove; expected layers among sublayers\.0,",
        ),
    ],
)
def test_bad_config_fails_at_startup(tmp_path: Path, break_config: Any, message: str) -> None:
    config = demo_config()
    workdir = copy_workflow(tmp_path / "wf")
    break_config(config, workdir)
    write_config(workdir, config)
    assert_fails_at_startup(workdir, message)


def assert_fails_at_startup(workdir: Path, message: str, *args: str) -> None:
    """A dry run stops before planning any job, with `message` (a regex) on one line."""
    result = run_snakemake(workdir, "-n", "--cores", "1", *args, check=False)
    assert result.returncode != 0
    errors = result.stdout + result.stderr
    assert re.search(message, errors, re.MULTILINE), errors
    assert "Traceback" not in errors and "Job stats" not in errors


VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write_sample_files(folder: Path) -> None:
    """Tiny files of each kind a sample sheet can name; startup reads only their first
    bytes (a reads folder: its file names)."""
    (folder / "reads" / "run1").mkdir(parents=True)
    (folder / "reads" / "run1" / "batch0.pod5").write_bytes(b"")
    (folder / "no_reads").mkdir()
    (folder / "no_reads" / "notes.txt").write_text("basecalled elsewhere\n")
    (folder / "reference.fasta").write_text(">contig1\nACGTACGT\n")
    (folder / "truth.vcf").write_text(VCF_HEADER)
    pysam.tabix_compress(str(folder / "truth.vcf"), str(folder / "truth.vcf.gz"))
    with gzip.open(folder / "plain.vcf.gz", "wt") as handle:
        handle.write(VCF_HEADER)


def sample_sheet_workdir(tmp_path: Path, sheet: str) -> Path:
    """The workflow with `sheet` (its {d} replaced by the sample files' folder) as its
    sample sheet, beside the demo sample."""
    files = tmp_path / "files"
    write_sample_files(files)
    config = demo_config()
    config["samples"] = str(tmp_path / "samples.tsv")
    (tmp_path / "samples.tsv").write_text(sheet.replace("{d}", str(files)))
    return copy_workflow(tmp_path / "wf", config)


SHEET_HEADER = "sample\treads\treference\ttruth_vcf\n"


def test_sample_sheet_of_every_accepted_kind_plans_each_sample(tmp_path: Path) -> None:
    sheet = (
        SHEET_HEADER
        + "bgzipped\t{d}/reads\t{d}/reference.fasta\t{d}/truth.vcf.gz\n"
        + "plain_vcf\t{d}/reads/run1/batch0.pod5\t{d}/reference.fasta\t{d}/truth.vcf\n"
        + "no_truth\t{d}/reads\t{d}/reference.fasta\t\n"
    )
    workdir = sample_sheet_workdir(tmp_path, sheet)
    output = run_snakemake(workdir, "-n", "--cores", "1").stdout
    samples = {w["sample"] for w in planned_wildcards(output) if "sample" in w}
    assert samples == {"bgzipped", "plain_vcf", "no_truth", "demo"}


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        (
            SHEET_HEADER
            + "a\t{d}/reads\t{d}/reference.fasta\t\n"
            + "b\t{d}/reads\t{d}/reference.fasta\t\n"
            + "a\t{d}/reads\t{d}/reference.fasta\t{d}/truth.vcf\n",
            r"samples\.tsv line 4: sample 'a' is already on line 2; expected one row per "
            r"sample$",
        ),
        (
            SHEET_HEADER + "a\t{d}/reads\t{d}/reference.fasta\t{d}/plain.vcf.gz\n",
            r"samples\.tsv line 2: sample 'a': truth_vcf \S+/plain\.vcf\.gz is compressed "
            r"with plain gzip; expected bgzip \(htslib's block gzip\) or no compression: "
            r"zcat \S+ \| bgzip > truth\.vcf\.gz && tabix -p vcf truth\.vcf\.gz$",
        ),
        (
            SHEET_HEADER + "a\t{d}/no_reads\t{d}/reference.fasta\t\n",
            r"samples\.tsv line 2: sample 'a': reads \S+/no_reads holds no \.fast5 or \.pod5 "
            r"file \(searched recursively\); expected a \.fast5 or \.pod5 file or a folder "
            r"of them$",
        ),
        (
            SHEET_HEADER + "a\t{d}/reads\t{d}/truth.vcf\t\n",
            r"samples\.tsv line 2: sample 'a': reference \S+/truth\.vcf is not FASTA: it "
            r"starts '##fileformat=VCFv4\.2'; expected a FASTA file whose first line is a "
            r"'>' header$",
        ),
        (
            "sample\treads\treferense\na\t{d}/reads\t{d}/reference.fasta\n",
            r"samples\.tsv line 1: no column reference; expected a tab-separated header with "
            r"the columns sample, reads, reference \(optional: truth_vcf\), found "
            r"\['sample', 'reads', 'referense'\]$",
        ),
        (
            SHEET_HEADER + "a b\t{d}/reads\t{d}/reference.fasta\t\n",
            r"samples\.tsv line 2: column sample: 'a b' does not match '\^\[A-Za-z0-9_\.-\]\+\$'$",
        ),
    ],
    ids=[
        "duplicate_sample",
        "plain_gzip_truth",
        "no_reads",
        "vcf_as_reference",
        "missing_column",
        "bad_name",
    ],
)
def test_bad_sample_sheet_fails_at_startup(tmp_path: Path, sheet: str, message: str) -> None:
    assert_fails_at_startup(sample_sheet_workdir(tmp_path, sheet), message)


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    path = workdir / "config" / "config.yaml"
    lines = path.read_text().splitlines()
    number = lines.index("  max_samples: 300000") + 1
    lines[number - 1] = "  max_samples: [300000"
    path.write_text("\n".join(lines) + "\n")
    assert_fails_at_startup(
        workdir,
        rf"^config/config\.yaml line {number + 1}, column \d+: not valid YAML: expected ',' or "
        rf"'\]', but got ':' \(while parsing a flow sequence that starts on line {number}\)$",
    )


def test_user_config_variants_replace_the_demo_variants(tmp_path: Path) -> None:
    """A --configfile that lists variants runs exactly those (and the original), for the
    basecaller and the merFISH family alike; other keys still merge with the demo's."""
    workdir = copy_workflow(tmp_path / "wf")
    user = tmp_path / "mine.yaml"
    user.write_text(
        yaml.safe_dump(
            {
                "variants": TINY_VARIANTS,
                "merfish": {"variants": {"float32": {"method": "float32"}}},
                "calling": {"min_mapq": 7},
            }
        )
    )
    output = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", str(user)).stdout
    jobs = planned_jobs(output)
    assert jobs["compress_model"] == 1 and jobs["merfish_compress"] == 1, jobs
    wildcards = planned_wildcards(output)
    # and the sensitivity proposer's variant, which the demo config enables
    planned = {w["variant"] for w in wildcards if "variant" in w}
    assert planned == {"original", "pruned10", "proposed"}
    assert {w["merfish_variant"] for w in wildcards if "merfish_variant" in w} == {"float32"}
    assert jobs["modelshrink_call"] == 3
    settings = "results/settings/call.json"
    run_snakemake(workdir, settings, "--cores", "1", "--configfile", str(user))
    assert json.loads((workdir / settings).read_text())["calling"]["min_mapq"] == 7


def test_missing_tool_names_it_and_where_to_get_it(tmp_path: Path) -> None:
    if shutil.which("run_clair3.sh", path=snakemake_env()["PATH"]):
        pytest.skip("clair3 is installed here")
    config = demo_config()
    config["calling"]["caller"] = "clair3"  # its default model comes from the clair3 env
    workdir = copy_workflow(tmp_path / "wf", config)
    result = run_snakemake(workdir, "--cores", "1", "results/settings/simulate.json", check=False)
    assert result.returncode != 0
    errors = result.stdout + result.stderr
    assert (
        "missing tools on PATH" in errors
        and "run_clair3.sh: run with --sdm conda (envs/clair3.yaml)" in errors
    )
    assert not (workdir / "results" / "settings" / "simulate.json").exists()


# --- a tiny real run ----------------------------------------------------------------


def tiny_config(checkpoint: Path) -> dict[str, Any]:
    """The demo at 20 kb with one variant; models and real reads from local paths."""
    config = demo_config()
    config["simulate"] = TINY_SIMULATION
    config["model"] = {"checkpoint": str(checkpoint), "sha256": sha256(checkpoint)}
    config["variants"] = TINY_VARIANTS
    config["merfish"].update(BASIC["merfish"])  # the merFISH branch: test_workflow_merfish.py
    config["sensitivity"].update(BASIC["sensitivity"])  # the scan: tests/test_sensitivity.py
    taiyaki = checkpoint.parents[1]
    config["real_reads"] = {
        "reads": [
            {"source": str(path), "sha256": sha256(path)}
            for path in sorted((taiyaki / "reads").glob("*.fast5"))
        ],
        "reference": {
            "source": str(taiyaki / "genomic_reference.fasta"),
            "sha256": sha256(taiyaki / "genomic_reference.fasta"),
        },
    }
    config["timing"] = copy.deepcopy(BASIC["timing"])
    return config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path) -> Path:
    """original + pruned10 on a 20 kb genome at 8x: miniasm + racon, the modelshrink
    caller, built-in evaluator; about a minute on 2 cores."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny") / "wf", tiny_config(taiyaki_checkpoint))
    run_snakemake(workdir, "--cores", "2")
    return workdir


def read_summary(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.workflow
def test_tiny_run_summary_has_plausible_numbers(tiny_run: Path) -> None:
    rows = {row["variant"]: row for row in read_summary(tiny_run / "results" / "summary.tsv")}
    assert sorted(rows) == ["original", "pruned10"]
    original, pruned = rows["original"], rows["pruned10"]
    assert original["sample"] == pruned["sample"] == "demo"
    assert original["tuned_on"] == pruned["tuned_on"] == "none"  # pruned10 learns nothing
    assert float(original["read_identity_median"]) > 0.85
    assert float(pruned["read_identity_median"]) > 0.8
    assert float(original["compression_ratio"]) == 1.0
    assert float(pruned["compression_ratio"]) > 1.0  # sparse storage is smaller
    assert int(pruned["nonzero_parameters"]) < int(original["nonzero_parameters"])
    assert float(pruned["sparse_macs_per_sample"]) < float(original["sparse_macs_per_sample"])
    assert float(original["speed_ratio"]) == 1.0
    # stored sparse, decoded: the same dense float32 kernel runs both
    assert original["execution_path"] == pruned["execution_path"] == "float32-fused"
    assert original["stored_as"] == "float32" and "sparse-float32" in pruned["stored_as"]
    assert original["read_identity_delta"] == original["read_identity_delta_low"] == "0.0000"
    assert float(pruned["read_identity_delta_low"]) <= float(pruned["read_identity_delta"])
    assert float(pruned["read_identity_delta"]) <= float(pruned["read_identity_delta_high"])
    # Taiyaki's five real reads: three map to its reference at 0.85-0.92 (test_basecall.py),
    # two come from a genome it does not hold and are left out
    assert original["real_reads"] == pruned["real_reads"] == "3"
    assert original["real_reads_without_reference"] == "2"
    assert 0.8 < float(original["real_read_identity_median"]) < 0.95
    assert pruned["assembly_identity_delta_pairing"] in ("paired_windows", "unpaired")
    for row in rows.values():
        assert float(row["basecall_samples_per_second"]) > 0
        assert 0.5 < float(row["assembly_identity_polished"]) <= 1.0
        # the whole-assembly identity has no cliff: a ~90 % miniasm draft reads ~0.9
        assert 0.8 < float(row["assembly_identity_whole_draft"]) < 0.97
        assert float(row["assembly_identity_whole_draft"]) < float(
            row["assembly_identity_whole_polished"]
        )
        assert 0.0 <= float(row["racon_unpolished_fraction"]) < 0.5
        assert float(row["reads_used_for_calling"]) > 0.9  # a unique genome maps uniquely
        assert 0.5 < float(row["callable_fraction"]) <= 1.0
        for column in ("snp_precision", "snp_recall", "snp_f1", "indel_f1"):
            assert 0.0 <= float(row[column]) <= 1.0, column
    assert float(original["snp_f1"]) > 0.5
    for plot in ("read_identity", "size_vs_accuracy", "identity_change", "f1"):
        assert (tiny_run / "results" / "plots" / f"{plot}.svg").stat().st_size > 1000
    benchmarks = list((tiny_run / "benchmarks").rglob("*.tsv"))
    assert any("basecall" in str(path) for path in benchmarks)


@pytest.mark.workflow
def test_tiny_run_writes_a_sequencing_summary_beside_each_basecall(tiny_run: Path) -> None:
    """One summary row per FASTQ record, same length, the variant named as the model."""
    basecalls = [
        *(tiny_run / "results" / "basecalls").glob("*/demo.fastq.gz"),
        *(tiny_run / "results" / "real_reads" / "basecalls").glob("*.fastq.gz"),
    ]
    assert len(basecalls) == 4  # two variants, simulated and real reads
    for fastq in basecalls:
        with pysam.FastxFile(str(fastq)) as records:
            lengths = {record.name: len(record.sequence) for record in records}
        with pysam.FastxFile(str(fastq)) as records:
            comment = next(iter(records)).comment
        variant = fastq.parent.name if fastq.name == "demo.fastq.gz" else fastq.name.split(".")[0]
        assert f"basecall_model_version_id={variant}" in comment.split()
        summary = fastq.with_name(fastq.name.replace(".fastq.gz", ".sequencing_summary.txt"))
        rows = read_summary(summary)
        assert {row["read_id"]: int(row["sequence_length_template"]) for row in rows} == lengths
        assert all(row["channel"] and row["start_time"] for row in rows)


@pytest.mark.workflow
def test_editing_one_variant_reruns_only_that_variant(tiny_run: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((tiny_run / "config" / "config.yaml").read_text())
    sparsity = config["variants"]["pruned10"]["prune"]["sparsity"]
    sparsity["sublayers.*.cudnn_gru.weight_hh_l0"] = 0.15
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(tiny_run, "-n", "--cores", "2", "--configfile", str(edited))
    jobs = planned_jobs(result.stdout)
    assert jobs.get("compress_model") == 1 and jobs.get("basecall_reads") == 1, jobs
    variants = {w["variant"] for w in planned_wildcards(result.stdout) if "variant" in w}
    assert variants == {"pruned10"}, variants
    assert "simulate_reads" not in jobs and "model_convert" not in jobs
    unchanged = run_snakemake(tiny_run, "-n", "--cores", "2")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr


@pytest.mark.workflow
def test_tiny_run_report_html(tiny_run: Path) -> None:
    run_snakemake(tiny_run, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "summary.tsv" in html and "size_vs_accuracy.svg" in html
