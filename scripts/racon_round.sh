#!/usr/bin/env bash
# One racon round: map reads to the backbone (minimap2 map-ont), polish with racon -u.
# An empty backbone (an assembler that assembled nothing) stays empty rather than
# failing the whole variant: the summary then shows no assembly identity for it.
# QUALITY is racon's -q: windows with a lower mean base quality keep the backbone.
# usage: racon_round.sh BACKBONE.fasta READS.fastq.gz OVERLAPS.paf OUT.fasta THREADS QUALITY
set -euo pipefail
backbone=$1 reads=$2 paf=$3 out=$4 threads=$5 quality=$6
if [ ! -s "$backbone" ]; then
    echo "racon_round.sh: $backbone is empty; writing an empty assembly" >&2
    : > "$paf"
    : > "$out"
    exit 0
fi
minimap2 -x map-ont -t "$threads" "$backbone" "$reads" > "$paf"
racon -u -q "$quality" -t "$threads" "$reads" "$paf" "$backbone" > "$out.tmp"
mv "$out.tmp" "$out"
