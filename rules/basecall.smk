rule basecall_reads:
    input:
        model=get_model,
        reads=get_reads,
    output:
        fastq="results/basecalls/{variant}/{sample}.fastq.gz",
        summary="results/basecalls/{variant}/{sample}.speed.tsv",
        sequencing_summary="results/basecalls/{variant}/{sample}.sequencing_summary.txt",
    log:
        "logs/basecall/{variant}/{sample}.log",
    benchmark:
        "benchmarks/basecall/{variant}/{sample}.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: BASECALL_THREADS
    resources:
        mem_mb=4000,
        gpu=get_basecall_gpus,
    params:
        batch_size=config["basecall"]["batch_size"],
        chunk_size=config["basecall"]["chunk_size"],
        overlap=config["basecall"]["overlap"],
        device=config["basecall"]["device"],
        engine=config["basecall"]["engine"],
    shell:
        "modelshrink basecall {input.model:q} {input.reads:q} -o {output.fastq:q} "
        "--summary {output.summary:q} --sequencing-summary {output.sequencing_summary:q} "
        "--model-name {wildcards.variant} "
        "--threads {threads} --batch-size {params.batch_size} "
        "--chunk-size {params.chunk_size} --overlap {params.overlap} --device {params.device} "
        "--engine {params.engine} "
        "--no-progress "
        "> {log:q} 2>&1"
