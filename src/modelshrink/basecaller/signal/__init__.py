"""Raw nanopore signal: reading fast5/pod5, conversion to pA, normalisation."""
