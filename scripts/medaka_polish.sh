#!/usr/bin/env bash
# medaka consensus of a draft. The draft is copied into a work folder first: medaka's
# mini_align writes its .fai/.mmi indexes beside the draft and reuses them when they
# exist, so indexes left beside a draft that is later rebuilt would be stale.
# An empty draft (an assembler that assembled nothing) stays empty, as in racon_round.sh.
# usage: medaka_polish.sh DRAFT.fasta READS.fastq.gz OUT.fasta MODEL THREADS
set -euo pipefail
draft=$1 reads=$2 out=$3 model=$4 threads=$5
if [ ! -s "$draft" ]; then
    echo "medaka_polish.sh: $draft is empty; writing an empty assembly" >&2
    : > "$out"
    exit 0
fi
work=$(mktemp -d "$out.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$draft" "$work/draft.fasta"
medaka_consensus -i "$reads" -d "$work/draft.fasta" -o "$work/medaka" -m "$model" -t "$threads"
mv "$work/medaka/consensus.fasta" "$out"
