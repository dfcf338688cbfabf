"""flye and medaka, run for real in the workflow (tests/test_workflow.py only dry-runs them).

One tiny run (the original model only, the 20 kb demo genome of test_workflow): flye
draft → one racon round → medaka → assembly identities → summary. With its default
k-mer size flye takes about 8.5 GB of memory whatever the genome size; the run here
sets `assembly.flye.extra_params: kmer_size=15` (about 0.6 GB). The other workflow
tests assemble with miniasm. medaka works offline only with its bundled
R10.4.1 models, which do not match these R9.4.1 basecalls: its consensus here checks
the plumbing (inputs, outputs, identities), not medaka's accuracy.

The tools come from `bash install.sh`: Debian's flye with the launcher it writes to
.venv/bin/flye (Debian 12's own /usr/bin/flye is broken) and medaka from pip.
"""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from test_workflow import (
    TINY_SIMULATION,
    copy_workflow,
    read_summary,
    run_snakemake,
    snakemake_env,
    tiny_config,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FLYE_MEMORY_KB = 2_000_000  # flye with kmer_size=15 on the tiny genome: about 0.6 GB


def unavailable_tools() -> list[str]:
    """Why flye or medaka cannot run here (empty when both can)."""
    path = snakemake_env()["PATH"]
    reasons = []
    flye = shutil.which("flye", path=path)
    if flye is None:
        reasons.append("flye is not on PATH (bash install.sh)")
    elif Path(flye).resolve() == Path("/usr/bin/flye"):
        reasons.append(
            "only Debian's flye 2.9.1 is on PATH, which is broken as packaged "
            "(bash install.sh writes a working launcher to .venv/bin/flye)"
        )
    if shutil.which("medaka_consensus", path=path) is None:
        reasons.append("medaka is not installed (bash install.sh)")
    return reasons


def available_memory_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def fasta_lengths(path: Path) -> dict[str, int]:
    lengths: dict[str, int] = {}
    name = ""
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            lengths[name] = 0
        else:
            lengths[name] += len(line.strip())
    return lengths


@pytest.fixture(scope="module")
def flye_medaka_run(tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path) -> Path:
    """original only: flye, one racon round, medaka; a few minutes on 2 cores."""
    reasons = unavailable_tools()
    if reasons:
        pytest.skip("; ".join(reasons))
    if available_memory_kb() < FLYE_MEMORY_KB:
        pytest.skip(f"flye needs about 2 GB of memory; {available_memory_kb() // 1024} MB free")
    config = tiny_config(taiyaki_checkpoint)
    config["variants"] = {}
    config["assembly"]["assembler"] = "flye"
    config["assembly"]["flye"]["extra_params"] = "kmer_size=15"  # < 1 GB instead of 8.5
    config["polish"]["racon_rounds"] = 1
    config["polish"]["nanopolish"] = False
    config["polish"]["medaka"]["enabled"] = True
    workdir = copy_workflow(tmp_path_factory.mktemp("tools") / "wf", config)
    run_snakemake(workdir, "--cores", "2")
    return workdir


@pytest.mark.workflow
def test_flye_assembles_the_demo_genome(flye_medaka_run: Path) -> None:
    assembly = flye_medaka_run / "results" / "assembly" / "original" / "demo"
    identity = flye_medaka_run / "results" / "assembly_identity" / "original" / "demo"
    contigs = fasta_lengths(assembly / "flye.fasta")
    genome_length = TINY_SIMULATION["genome"]["length"]
    assert contigs and 0.8 * genome_length < sum(contigs.values()) < 1.2 * genome_length
    info = (assembly / "flye_info.txt").read_text()
    assert info.startswith("#seq_name") and set(contigs) <= set(info.split())
    pieces = read_summary(identity / "draft.tsv")
    assert len(pieces) == sum(length // 10_000 for length in contigs.values()) >= 1
    summary = read_summary(identity / "draft.summary.tsv")[0]
    assert int(summary["aligned"]) >= 1
    assert 0.9 < float(summary["median_identity"]) <= 1.0
    benchmark = flye_medaka_run / "benchmarks" / "assembly" / "original" / "demo" / "flye.tsv"
    assert float(read_summary(benchmark)[0]["max_rss"]) > 0


@pytest.mark.workflow
def test_medaka_polishes_the_racon_consensus(flye_medaka_run: Path) -> None:
    polish = flye_medaka_run / "results" / "polish" / "original" / "demo"
    racon = fasta_lengths(polish / "racon_1.fasta")
    medaka = fasta_lengths(polish / "medaka.fasta")
    assert medaka and set(medaka) == set(racon)
    for name, length in medaka.items():
        assert 0.9 * racon[name] < length < 1.1 * racon[name]
    # medaka's indexes land in its work folder, not beside the draft where a later
    # rebuilt draft would find them stale
    assert sorted(path.name for path in polish.iterdir()) == ["medaka.fasta", "racon_1.fasta"]
    identity = flye_medaka_run / "results" / "assembly_identity" / "original" / "demo"
    medaka_summary = read_summary(identity / "medaka.summary.tsv")[0]
    (row,) = read_summary(flye_medaka_run / "results" / "summary.tsv")
    assert row["variant"] == "original"
    # the polished identity is medaka's, the last stage; an R10.4.1 model on R9.4.1
    # basecalls, so only plausible, not better than the draft
    assert float(row["assembly_identity_polished"]) == pytest.approx(
        float(medaka_summary["median_identity"]), abs=1e-4
    )
    assert 0.8 < float(row["assembly_identity_polished"]) <= 1.0


def random_reads(path: Path, count: int, length: int) -> None:
    rng = random.Random(1)
    with gzip.open(path, "wt") as handle:
        for number in range(count):
            sequence = "".join(rng.choice("ACGT") for _ in range(length))
            handle.write(f"@r{number}\n{sequence}\n+\n{'5' * length}\n")


def test_flye_script_writes_an_empty_assembly_when_nothing_assembles(tmp_path: Path) -> None:
    """Reads of a collapsed model share no k-mers: flye stops, the draft is empty."""
    reasons = unavailable_tools()
    if any("flye" in reason for reason in reasons):
        pytest.skip("; ".join(reasons))
    reads = tmp_path / "reads.fastq.gz"
    random_reads(reads, count=30, length=3000)
    fasta, info = tmp_path / "flye.fasta", tmp_path / "flye_info.txt"
    # k=15 keeps flye's k-mer table at about 0.5 GB (k=17, its default, takes 8.5 GB)
    result = subprocess.run(
        [SCRIPTS / "flye_assemble.sh", reads, fasta, info, "2", "nano-raw", "1",
         "--extra-params", "kmer_size=15"],
        env=snakemake_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flye assembled nothing" in result.stderr
    assert fasta.exists() and fasta.stat().st_size == 0
    assert info.read_text().startswith("#seq_name")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "flye.fasta", "flye_info.txt", "reads.fastq.gz"
    ]  # fmt: skip


def test_medaka_script_keeps_an_empty_draft_empty(tmp_path: Path) -> None:
    draft, out = tmp_path / "draft.fasta", tmp_path / "medaka.fasta"
    draft.write_text("")
    result = subprocess.run(
        [SCRIPTS / "medaka_polish.sh", draft, tmp_path / "reads.fastq.gz", out,
         "r1041_e82_400bps_sup_v5.2.0", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.exists() and out.stat().st_size == 0
