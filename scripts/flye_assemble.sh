#!/usr/bin/env bash
# Flye assembly into a work folder beside the outputs, then assembly.fasta and
# assembly_info.txt moved into place. Flye stops with an error when it assembles nothing
# from very poor reads of a strongly compressed model ("No disjointigs were assembled";
# reads without a shared k-mer crash its assemble module with SIGFPE); that becomes an
# empty assembly, as with miniasm, so the summary shows NA identities instead of the
# workflow failing. Other failures (out of memory, bad options) still fail the job.
# usage: flye_assemble.sh READS.fastq.gz OUT.fasta OUT_INFO.txt THREADS READ_TYPE ITERATIONS [FLYE OPTION...]
set -euo pipefail
reads=$1 fasta=$2 info=$3 threads=$4 read_type=$5 iterations=$6
shift 6
work=$(mktemp -d "$fasta.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! flye --"$read_type" "$reads" --out-dir "$work" --threads "$threads" \
    --iterations "$iterations" "$@"; then
    if grep -qE "were assembled - |'assemble'.* died with <Signals.SIGFPE" \
        "$work/flye.log" 2>/dev/null; then
        echo "flye_assemble.sh: flye assembled nothing; writing an empty assembly" >&2
        printf '#seq_name\tlength\tcov.\tcirc.\trepeat\tmult.\talt_group\tgraph_path\n' > "$info"
        : > "$fasta"
        exit 0
    fi
    exit 1
fi
mv "$work/assembly_info.txt" "$info"
mv "$work/assembly.fasta" "$fasta"
