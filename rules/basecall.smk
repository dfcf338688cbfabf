rule basecall_reads:
    input:
        model=get_model,
        reads=get_reads,
    output:
        fastq="results/basecalls/{variant}/{sample}.fastq.gz",
        summary="results/basecalls/{variant}/{sample}.speed.tsv",
    params:
        batch_size=config["basecall"]["batch_size"],
        chunk_size=config["basecall"]["chunk_size"],
        overlap=config["basecall"]["overlap"],
    log:
        "logs/basecall/{variant}/{sample}.log",
    benchmark:
        "benchmarks/basecall/{variant}/{sample}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink basecall {input.model:q} {input.reads:q} -o {output.fastq:q} "
        "--summary {output.summary:q} --threads {threads} --batch-size {params.batch_size} "
        "--chunk-size {params.chunk_size} --overlap {params.overlap} --no-progress "
        "> {log:q} 2>&1"
