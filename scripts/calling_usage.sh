#!/usr/bin/env bash
# What the calling stage could use: primary mapped reads, those with mapping quality
# >= MIN_MAPQ (the callers' minimum), and the share of reference bases that those reads
# span at least MIN_DEPTH deep (the callers' minimum depth). One-row TSV for the summary.
# usage: calling_usage.sh READS.bam MIN_MAPQ MIN_DEPTH OUT.tsv
set -euo pipefail
bam=$1 min_mapq=$2 min_depth=$3 out=$4
primary=0x904 # unmapped, secondary, supplementary
mapped=$(samtools view -c -F "$primary" "$bam")
used=$(samtools view -c -F "$primary" -q "$min_mapq" "$bam")
# -aa: every reference base, also of contigs without reads; -J: a read deleting a base
# still spans it; -G: supplementary alignments are left out as above
callable=$(samtools depth -aa -J -G 0x800 -Q "$min_mapq" "$bam" |
    awk -v depth="$min_depth" '{n++; if ($3 >= depth) deep++} END {printf "%.6f", n ? deep / n : 0}')
fraction=$(awk -v used="$used" -v mapped="$mapped" \
    'BEGIN {if (mapped) printf "%.6f", used / mapped; else printf "NA"}')
printf '%s\t%s\t%s\t%s\t%s\t%s\n' mapped_reads reads_used reads_used_fraction \
    callable_fraction min_mapq min_depth \
    "$mapped" "$used" "$fraction" "$callable" "$min_mapq" "$min_depth" > "$out.tmp"
mv "$out.tmp" "$out"
