#!/usr/bin/env bash
# Index the basecalls for nanopolish: read id -> fast5 file. nanopolish scans whole
# directories (-d), so a single fast5 file is found through its folder (other fast5
# files there are indexed too, harmlessly: only the basecalled read ids are looked up).
# usage: nanopolish_index.sh READS(fast5 file or folder) READS.fastq.gz
set -euo pipefail
raw=$1 reads=$2
if [ -d "$raw" ]; then folder=$raw; else folder=$(dirname "$raw"); fi
nanopolish index -d "$folder" "$reads"
