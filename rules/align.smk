rule minimap2_align:
    input:
        reads=rules.basecall_reads.output.fastq,
        reference=rules.reference_prepare.output.fasta,
    output:
        bam="results/alignment/{variant}/{sample}.bam",
        bai="results/alignment/{variant}/{sample}.bam.bai",
    log:
        "logs/alignment/{variant}/{sample}.log",
    benchmark:
        "benchmarks/alignment/{variant}/{sample}.tsv"
    conda:
        "../envs/minimap2.yaml"
    threads: get_tool_threads
    resources:
        mem_mb=4000,
    shell:
        "(minimap2 -ax map-ont -t {threads} {input.reference:q} {input.reads:q} "
        "| samtools sort -@ {threads} -o {output.bam:q} - "
        "&& samtools index {output.bam:q}) 2> {log:q}"
