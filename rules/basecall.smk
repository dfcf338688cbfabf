rule basecall_reads:
    input:
        model=get_model,
        reads=get_reads,
        settings="results/settings/basecall.json",
    output:
        fastq="results/basecalls/{variant}/{sample}.fastq.gz",
        summary="results/basecalls/{variant}/{sample}.speed.tsv",
        sequencing_summary="results/basecalls/{variant}/{sample}.sequencing_summary.txt",
    log:
        "logs/basecall/{variant}/{sample}.log",
    benchmark:
        "benchmarks/basecall/{variant}/{sample}.tsv"
    priority: PRIORITY_BASECALL
    conda:
        "../envs/modelshrink.yaml"
    threads: BASECALL_THREADS
    resources:
        mem_mb=4000,
        gpu=get_basecall_gpus,
    shell:
        "modelshrink basecall {input.model:q} {input.reads:q} -o {output.fastq:q} "
        "--summary {output.summary:q} --sequencing-summary {output.sequencing_summary:q} "
        "--model-name {wildcards.variant} --threads {threads} --settings {input.settings:q} "
        "--no-progress > {log:q} 2>&1"
