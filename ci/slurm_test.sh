#!/usr/bin/env bash
# Proves profiles/slurm for real: brings up a single-node Slurm cluster on localhost
# (munge, MariaDB + slurmdbd for sacct, slurmctld, slurmd), runs a tiny config of the
# workflow through `snakemake --profile profiles/slurm`, checks results/summary.tsv,
# and tears the cluster down again. About 3 minutes once the packages are installed.
#
# Skips (exit 0, with a message) when not root, without apt-get, or without the shared
# test data (the pretrained checkpoint); fails (exit 1) when the workflow fails.
# usage: ci/slurm_test.sh            (MODELSHRINK_TEST_DATA, PYTHON override defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
DATA=${MODELSHRINK_TEST_DATA:-$REPO/../shared/data}
CHECKPOINT=$DATA/taiyaki/models/mGru_flipflop_remapping_model_r9_DNA.checkpoint

skip() { echo "slurm_test.sh: SKIPPED: $*" >&2; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root to start Slurm daemons"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get (not Debian/Ubuntu)"
[ -f "$CHECKPOINT" ] || skip "no pretrained checkpoint at $CHECKPOINT (set MODELSHRINK_TEST_DATA)"
[ -x "$PYTHON" ] || skip "no Python environment at $PYTHON (run ./install.sh)"

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v mariadbd >/dev/null; then
    echo "slurm_test.sh: installing munge slurm-wlm slurmdbd mariadb-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q -o DPkg::Lock::Timeout=600 munge slurm-wlm slurmdbd mariadb-server \
        >/dev/null || {
        apt-get update -q >/dev/null || skip "apt-get update failed (offline?)"
        apt-get install -y -q -o DPkg::Lock::Timeout=600 munge slurm-wlm slurmdbd \
            mariadb-server >/dev/null || skip "cannot install the Slurm packages"
    }
fi

WORK=$(mktemp -d /tmp/modelshrink-slurm.XXXXXX)
cleanup() {
    status=$?
    bash "$REPO/ci/slurm_down.sh" >/dev/null 2>&1 || true
    if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else echo "slurm_test.sh: kept $WORK" >&2; fi
}
trap cleanup EXIT
bash "$REPO/ci/slurm_up.sh"

# A user's checkout with a tiny config: original model only, 12 kb genome at 8x, and the
# merFISH branch at test size (the demo's trains for minutes and builds every method).
cp -r "$REPO"/{Snakefile,rules,config,envs,scripts,report,profiles} "$WORK"/
SHA=$(sha256sum "$CHECKPOINT" | cut -d' ' -f1)
"$PYTHON" - "$WORK/config/config.yaml" "$CHECKPOINT" "$SHA" <<'PY'
import pathlib
import sys

import yaml

path, checkpoint, sha = sys.argv[1:]
config = yaml.safe_load(open(path))
config["simulate"] = {
    "genome": {"length": 12000, "seed": 1},
    "variants": {"snps": 24, "indels": 5, "seed": 2},
    "reads": {"coverage": 8, "mean_length": 4000, "seed": 3},
}
config["model"] = {"checkpoint": checkpoint, "sha256": sha}
config["sensitivity"] = {"enabled": False}  # the scan fetches training files: offline here
config["variants"] = {}
config["polish"]["racon_rounds"] = 1
config["timing"] = {"max_samples": 50000, "repeats": 2}
# the merFISH branch at test size (tests/test_workflow_merfish.py): a width-1/8 network on
# 16 x 16 tiles for two epochs, float32 and static int8 only
config["merfish"] = {
    "enabled": True,
    "data": "",
    "simulation": {
        "image_size": 16, "train_tiles": 8, "val_tiles": 2, "test_tiles": 2, "emitter_count": 4
    },
    "model": {"width": 0.125},
    "train": {"epochs": 2, "batch_size": 4, "learning_rate": 3.0e-3},
    "variants": {
        "float32": {"method": "float32"},
        "static_int8": {"method": "static", "calibration_tiles": 4},
    },
    "evaluation": {"repeats": 3},
}
# the demo's real reads from the test data (the same files as its URLs name)
taiyaki = pathlib.Path(checkpoint).parents[1]
for entry in config["real_reads"]["reads"]:
    entry["source"] = str(taiyaki / "reads" / entry["source"].rsplit("/", 1)[1])
config["real_reads"]["reference"]["source"] = str(taiyaki / "genomic_reference.fasta")
yaml.safe_dump(config, open(path, "w"), sort_keys=False)
PY

cd "$WORK"
export PATH="$(dirname "$PYTHON"):$PATH"
start=$(date +%s)
"$PYTHON" -m snakemake --profile profiles/slurm --jobs 4 \
    --slurm-init-seconds-before-status-checks 5 --latency-wait 10 \
    --default-resources mem_mb=1000 runtime=10 >"$WORK/snakemake.log" 2>&1 || {
    tail -n 60 "$WORK/snakemake.log" >&2
    echo "slurm_test.sh: FAILED: the workflow failed under profiles/slurm" >&2
    exit 1
}
elapsed=$(( $(date +%s) - start ))
since=$(date -d "@$start" +%Y-%m-%dT%H:%M:%S)
jobs=$(sacct -n -X -S "$since" -o State | grep -c COMPLETED || true)
rows=$(tail -n +2 results/summary.tsv | wc -l)
if [ "$rows" -ne 1 ] || [ "$jobs" -lt 10 ]; then
    echo "slurm_test.sh: FAILED: summary rows $rows (want 1), completed Slurm jobs $jobs" >&2
    exit 1
fi
echo "slurm_test.sh: OK: $jobs jobs ran through Slurm in ${elapsed}s; summary:" >&2
column -t -s $'\t' results/summary.tsv >&2 || cat results/summary.tsv >&2
