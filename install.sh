#!/usr/bin/env bash
# Sets up everything modelshrink needs on a Debian 12 / Python 3.11 machine:
# Debian tools (minimap2, racon, samtools, ...) and a virtualenv in .venv with
# the CPU build of PyTorch and the modelshrink package. Safe to rerun: each
# step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"

TORCH_WHL=${MODELSHRINK_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
VENV=${MODELSHRINK_VENV:-.venv}
DEBIAN_TOOLS=(minimap2 racon samtools bcftools tabix miniasm nanopolish freebayes seqkit
              libvbz-hdf-plugin0 zlib1g-dev build-essential)

missing_tools=()
for tool in minimap2 racon samtools bcftools tabix bgzip miniasm nanopolish freebayes seqkit; do
    command -v "$tool" >/dev/null 2>&1 || missing_tools+=("$tool")
done
if ((${#missing_tools[@]})); then
    echo "install.sh: installing Debian tools (missing: ${missing_tools[*]})" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${DEBIAN_TOOLS[@]}"
fi

stamp="$VENV/.modelshrink-installed"
want=$(cat pyproject.toml install.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    test -f "$TORCH_WHL" || {
        echo "install.sh: missing $TORCH_WHL (the CPU build of torch); refusing to pull CUDA torch." >&2
        echo "Set MODELSHRINK_TORCH_WHEEL to a local CPU torch wheel." >&2
        exit 1
    }
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    # torch is named in the same pip command so no dependency pulls the CUDA build.
    "$VENV/bin/pip" install -q --disable-pip-version-check "$TORCH_WHL" -e ".[dev]"
    echo "$want" >"$stamp"
fi
echo "install.sh: ready ($VENV)" >&2
