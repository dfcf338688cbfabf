"""Demo data with exactly known truth: a reference genome, a haploid sample genome with
truth variants, and R9.4.1 raw-signal reads (fast5, pod5, training chunks) simulated
from ONT's 6-mer pore model.

One module per job:

- `genome`        random reference FASTA (seeded, GC content), reading/validating a user's
- `variants`      SNPs and small indels, left-aligned and non-overlapping; truth VCF
- `poremodel`     the R9.4.1 6-mer model: fetched once into a cache, or a user's file
- `signal`        one read's raw signal: k-mer levels, random dwells, correlated noise, ADC;
                  per-read speed and noise, tuned on real R9.4.1 reads
- `reads`         where reads come from (strand, start, length) and the simulation loop
- `fast5_writer`, `pod5_writer`, `truth`   the output files
- `training_data` signal chunks + the bases they cover (writer, and the reader that also
  understands Taiyaki mapped-signal files)
- `specs`         typed settings parsed once from config / command line
"""
