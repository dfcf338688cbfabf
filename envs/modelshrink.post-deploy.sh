#!/usr/bin/env bash
# Installs this checkout's modelshrink package (editable, no dependencies: the env file
# pins them) into the freshly created env. Snakemake runs this script from its copy in
# .snakemake/conda/, so the checkout is found through MODELSHRINK_WORKFLOW_DIR, which
# rules/common.smk sets to the workflow's folder before any env is created.
set -euo pipefail
: "${MODELSHRINK_WORKFLOW_DIR:?rules/common.smk sets it; run the workflow through snakemake}"
python -m pip install --no-deps --no-build-isolation -e "$MODELSHRINK_WORKFLOW_DIR"
