# modelshrink: prune and quantize a nanopore basecaller (and, with merfish.enabled, a
# merFISH spot detector), measure what it costs the science.
# Run: snakemake --cores 8 --sdm conda   (or with the tools on PATH: snakemake --cores 2)
# Cluster: snakemake --profile profiles/slurm; report: snakemake --report report.html


from snakemake.utils import min_version

min_version("9.0")


# rules/common.smk loads config/config.yaml (after checking its YAML syntax), merges a
# user's --configfile over it and checks the result before any rule is defined.
include: "rules/common.smk"


report: "report/workflow.rst"


include: "rules/settings.smk"
include: "rules/model.smk"
include: "rules/demo_data.smk"
include: "rules/basecall.smk"
include: "rules/timing.smk"
include: "rules/identity.smk"
include: "rules/real_reads.smk"
include: "rules/assembly.smk"
include: "rules/polish.smk"
include: "rules/align.smk"
include: "rules/calling.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/merfish.smk"
include: "rules/sensitivity.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
