"""Small-variant calling from long-read alignments: allele counts and the haploid caller.

`pileup` counts, per reference position, the reads that span it and the alleles they
carry (SNPs and left-aligned indels, per strand); `haploid` turns those counts into
calls with transparent rules; `vcf` writes them.
"""
