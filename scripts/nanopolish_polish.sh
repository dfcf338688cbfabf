#!/usr/bin/env bash
# Signal-level consensus polishing (the original work's last step), window by window:
# reads mapped to the draft, `nanopolish variants --consensus` per window, vcf2fasta.
# usage: nanopolish_polish.sh DRAFT.fasta READS.fastq.gz(indexed) OUT.bam OUT.fasta THREADS WINDOW
set -euo pipefail
draft=$1 reads=$2 bam=$3 out=$4 threads=$5 window=$6
work=$(mktemp -d "$out.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ ! -s "$draft" ]; then
    echo "nanopolish_polish.sh: $draft is empty; writing an empty assembly" >&2
    : > "$out"; samtools view -b -o "$bam" /dev/null 2>/dev/null || : > "$bam"; : > "$bam.bai"
    exit 0
fi
minimap2 -ax map-ont -t "$threads" "$draft" "$reads" | samtools sort -@ "$threads" -o "$bam" -
samtools index "$bam"
samtools faidx "$draft"
awk -v w="$window" '{for (s = 0; s < $2; s += w) {e = s + w; if (e > $2) e = $2; print $1 ":" s "-" e}}' \
    "$draft.fai" > "$work/windows"
n=0
while read -r region; do
    n=$((n + 1))
    nanopolish variants --consensus -t "$threads" -w "$region" -r "$reads" -b "$bam" \
        -g "$draft" -o "$work/part$n.vcf"
done < "$work/windows"
nanopolish vcf2fasta --skip-checks -g "$draft" "$work"/part*.vcf > "$out.tmp"
mv "$out.tmp" "$out"
