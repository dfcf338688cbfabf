#!/usr/bin/env bash
# Sets up everything modelshrink needs on a Debian 12 / Python 3.11 machine:
# Debian tools (minimap2, racon, samtools, flye, ...) and a virtualenv in .venv with
# the CPU build of PyTorch, medaka and the modelshrink package, plus a working `flye`
# in .venv/bin (Debian 12's flye 2.9.1 is broken as packaged). Safe to rerun: each
# step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"

TORCH_WHL=${MODELSHRINK_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
VENV=${MODELSHRINK_VENV:-.venv}
DEBIAN_TOOLS=(minimap2 racon samtools bcftools tabix flye miniasm nanopolish freebayes seqkit
              libvbz-hdf-plugin0 zlib1g-dev build-essential ninja-build)
MEDAKA=medaka==2.2.2     # keeps torch 2.13, brings pysam 0.23.0 and ont-mappy (not mappy)
FLYE_MINIMAP2=2.31       # Debian's flye 2.9.1 needs minimap2 >= 2.26 (--secondary-seq)

missing_tools=()
# g++ and ninja compile the fused GRU kernel (src/modelshrink/basecaller/gru_steps.cpp)
for tool in minimap2 racon samtools bcftools tabix bgzip flye miniasm nanopolish freebayes seqkit \
            g++ ninja; do
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
    # torch is named in the same pip command so no dependency (medaka) pulls the CUDA build.
    "$VENV/bin/pip" install -q --disable-pip-version-check "$TORCH_WHL" -e ".[dev]" "$MEDAKA"
    echo "$want" >"$stamp"
fi

# Debian 12's flye 2.9.1 is broken as packaged: it runs `/usr/bin/minimap2 --secondary-seq`
# (minimap2 2.24 lacks the option) and a `flye-samtools` that is not shipped. Fix: minimap2
# built from the mappy sdist (the minimap2 sources; mappy itself is not installed) and a
# launcher, $VENV/bin/flye, that points flye at it and at Debian's samtools. Only for that
# Debian package; with conda the workflow uses envs/flye.yaml.
if [ "$(dpkg-query -W -f='${Version}' flye 2>/dev/null)" = "2.9.1+dfsg-1" ]; then
    # built once per machine, outside the venv: a fresh checkout's venv (CI) reuses it
    minimap2="${XDG_CACHE_HOME:-$HOME/.cache}/modelshrink/minimap2-$FLYE_MINIMAP2/minimap2"
    if ! "$minimap2" --version 2>/dev/null | grep -q "^$FLYE_MINIMAP2-"; then
        echo "install.sh: building minimap2 $FLYE_MINIMAP2 for flye" >&2
        build=$(mktemp -d)
        trap 'rm -rf "$build"' EXIT
        # --no-build-isolation: only the sources are wanted (with isolation pip builds the
        # build dependencies from source, minutes)
        "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-build-isolation \
            --no-binary mappy "mappy==$FLYE_MINIMAP2" -d "$build"
        tar -xzf "$build/mappy-$FLYE_MINIMAP2.tar.gz" -C "$build"
        make -s -C "$build/mappy-$FLYE_MINIMAP2" -j2 minimap2 2>"$build/make.log" || {
            cat "$build/make.log" >&2
            exit 1
        }
        install -D -m 755 "$build/mappy-$FLYE_MINIMAP2/minimap2" "$minimap2"
    fi
    launcher="#!/usr/bin/python3
# Written by install.sh: Debian's flye 2.9.1 with minimap2 $FLYE_MINIMAP2 and Debian's samtools.
import os
import sys

os.environ[\"PATH\"] = \"/usr/bin\" + os.pathsep + os.environ.get(\"PATH\", \"\")  # flye-modules
import flye.polishing.alignment
import flye.utils.sam_parser
from flye.main import main

flye.polishing.alignment.MINIMAP_BIN = \"$minimap2\"
flye.utils.sam_parser.SAMTOOLS_BIN = \"/usr/bin/samtools\"
sys.exit(main())"
    if [ "$(cat "$VENV/bin/flye" 2>/dev/null)" != "$launcher" ]; then
        printf '%s\n' "$launcher" >"$VENV/bin/flye"
        chmod 755 "$VENV/bin/flye"
    fi
fi
# The C++ kernels compile now rather than in the first workflow jobs (cached per CPU
# type under TORCH_EXTENSIONS_DIR; a second run just loads them).
"$VENV/bin/modelshrink" kernels >&2

echo "install.sh: ready ($VENV)" >&2
