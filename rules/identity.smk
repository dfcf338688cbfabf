rule read_identity:
    input:
        reads=rules.basecall_reads.output.fastq,
        reference=get_reference,
    output:
        per_read="results/identity/{variant}/{sample}.tsv",
        summary="results/identity/{variant}/{sample}.summary.tsv",
    log:
        "logs/identity/{variant}/{sample}.log",
    benchmark:
        "benchmarks/identity/{variant}/{sample}.tsv"
    threads: 2
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink identity reads --reads {input.reads:q} --reference {input.reference:q} "
        "--out {output.per_read:q} --summary {output.summary:q} --threads {threads} > {log:q} 2>&1"
