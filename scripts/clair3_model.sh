#!/usr/bin/env bash
# Copies a Clair3 2.x model shipped with the clair3 install (the folder bin/models/ next
# to run_clair3.sh, where bioconda's recipe unpacks its model bundle) into OUT_DIR.
# A build without that model ends with one message naming the files to place and where.
# usage: clair3_model.sh MODEL_NAME OUT_DIR
set -euo pipefail
name=$1
out=$2
shipped="$(dirname "$(command -v run_clair3.sh)")/models/$name"
url="https://www.bio8.cs.hku.hk/clair3/clair3_models_pytorch/$name/"
for file in pileup.pt full_alignment.pt; do
    if [ ! -s "$shipped/$file" ]; then
        echo "clair3_model.sh: this clair3 install has no model $name ($shipped/$file is" \
            "missing). Download pileup.pt and full_alignment.pt from $url and place" \
            "them in $out/, or set calling.clair3.model_path to a Clair3 2.x model folder." >&2
        exit 1
    fi
done
mkdir -p "$out"
for file in pileup.pt full_alignment.pt; do
    cp "$shipped/$file" "$out/$file.tmp"
    mv "$out/$file.tmp" "$out/$file"
done
echo "clair3_model.sh: copied $shipped to $out" >&2
