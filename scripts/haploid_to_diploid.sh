#!/usr/bin/env bash
# Haploid genotypes become homozygous diploid ("1" -> "1/1") so hap.py, which assumes
# diploid calls, does not count every haploid call as both a false negative and a
# false positive. GT is the first FORMAT field (VCF spec).
# usage: haploid_to_diploid.sh IN.vcf[.gz] OUT.vcf.gz
set -euo pipefail
in=$1 out=$2
bcftools view "$in" | awk 'BEGIN {FS = OFS = "\t"}
    /^#/ {print; next}
    {for (i = 10; i <= NF; i++) {
        n = index($i, ":"); gt = n ? substr($i, 1, n - 1) : $i; rest = n ? substr($i, n) : ""
        if (gt ~ /^[0-9.]+$/) $i = gt "/" gt rest
     }
     print}' | bgzip > "$out.tmp.vcf.gz"
mv "$out.tmp.vcf.gz" "$out"
tabix -f -p vcf "$out"
