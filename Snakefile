# modelshrink: prune and quantize a nanopore basecaller, measure what it costs the science.
# Run: snakemake --cores 8 --sdm conda   (or with the tools on PATH: snakemake --cores 2)


from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/model.smk"
include: "rules/demo_data.smk"
include: "rules/basecall.smk"
include: "rules/identity.smk"


rule all:
    input:
        get_final_output(),
