#!/usr/bin/env bash
# Haploid signal-level variant calls against the reference, window by window.
# usage: nanopolish_call.sh REF.fasta READS.fastq.gz(indexed) READS.bam OUT.vcf.gz THREADS WINDOW MIN_DEPTH
set -euo pipefail
ref=$1 reads=$2 bam=$3 out=$4 threads=$5 window=$6 depth=$7
work=$(mktemp -d "$out.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
awk -v w="$window" '{for (s = 0; s < $2; s += w) {e = s + w; if (e > $2) e = $2; print $1 ":" s "-" e}}' \
    "$ref.fai" > "$work/windows"
n=0
while read -r region; do
    n=$((n + 1))
    nanopolish variants --ploidy 1 -t "$threads" -w "$region" -d "$depth" -r "$reads" \
        -b "$bam" -g "$ref" -o "$work/raw$n.vcf"
    # nanopolish writes no ##contig lines, which bcftools needs
    bcftools reheader --fai "$ref.fai" -o "$work/part$n.vcf" "$work/raw$n.vcf"
done < "$work/windows"
bcftools concat -Ou "$work"/part*.vcf | bcftools sort -Oz -o "$out.tmp.vcf.gz"
mv "$out.tmp.vcf.gz" "$out"
