"""What the Snakemake workflow asks the package at startup (rules/common.smk).

`config_files` reads and merges the config files, `sample_sheet` (with `sample_files`)
reads and checks the samples, `plan` says which files each job reads and writes each
job's settings file, and `checks.check_workflow` is the one validation entry point.
"""
