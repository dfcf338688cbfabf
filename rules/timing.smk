# Basecalling speed, timed alone. The basecall jobs' own clocks are not used: those jobs
# share the cores with whatever else runs, so two stored forms of the same float32
# arithmetic came out 1.5x apart. This job reserves every core of a local run
# (get_timing_threads): Snakemake's scheduler starts no job beside one holding all
# cores, so nothing else competes while it times. Under profiles/slurm (no --cores) it
# asks for the basecall threads and the profile requests its node with --exclusive.
# Inside, every variant basecalls the same first reads of the sample, interleaved with
# each between two runs of the original (original, v1, original, v2, ..., original), after
# an untimed warm-up.
rule basecall_timing:
    input:
        models=expand("results/models/{variant}.safetensors", variant=VARIANTS),
        reads=get_reads,
        settings="results/settings/timing.json",
    output:
        timing="results/timing/{sample}.tsv",
        runs="results/timing/{sample}.runs.tsv",
    log:
        "logs/timing/{sample}.log",
    benchmark:
        "benchmarks/timing/{sample}.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: get_timing_threads
    resources:
        mem_mb=4000,
        gpu=get_basecall_gpus,
    params:
        models=get_timing_model_arguments,
        basecall_threads=get_timing_basecall_threads,
    shell:
        "modelshrink timing {params.models} --reads {input.reads:q} -o {output.timing:q} "
        "--runs {output.runs:q} --threads {params.basecall_threads} "
        "--settings {input.settings:q} > {log:q} 2>&1"
