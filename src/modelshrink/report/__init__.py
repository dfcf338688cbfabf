"""The workflow's report: per-model numbers, the summary table and its plots.

`model_stats` measures one stored variant (bytes, non-zeros, MACs), `summary` joins
every stage's small output files into results/summary.tsv, `plots` draws what users
would rather look at than read. The Snakemake rules only pass file names.
"""
