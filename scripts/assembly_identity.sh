#!/usr/bin/env bash
# Assembly identity (10 kb pieces and whole contigs, minimap2 map-ont) via
# `modelshrink identity assembly`;
# an empty assembly (the assembler built nothing from poor reads) is a result too:
# NA identities rather than a failed workflow.
# usage: assembly_identity.sh ASSEMBLY.fasta REFERENCE.fasta PIECES.tsv SUMMARY.tsv THREADS
set -euo pipefail
assembly=$1 reference=$2 pieces=$3 summary=$4 threads=$5
if [ -s "$assembly" ]; then
    exec modelshrink identity assembly --assembly "$assembly" --reference "$reference" \
        --out "$pieces" --summary "$summary" --threads "$threads"
fi
echo "assembly_identity.sh: $assembly is empty; identities are NA" >&2
printf 'name\tlength\tidentity\trelative_length\ttarget\ttarget_start\ttarget_end\n' > "$pieces.tmp"
printf '%s\t%s\t%s\t%s\t%s\t%s\n' sequences aligned median_identity mean_identity \
    whole_identity whole_aligned_fraction 0 0 NA NA NA NA > "$summary.tmp"
mv "$pieces.tmp" "$pieces"
mv "$summary.tmp" "$summary"
