rule racon_polish:
    input:
        backbone=get_racon_backbone,
        reads=rules.basecall_reads.output.fastq,
    output:
        paf=temp("results/polish/{variant}/{sample}/racon_{round}.paf"),
        fasta="results/polish/{variant}/{sample}/racon_{round}.fasta",
    log:
        "logs/polish/{variant}/{sample}/racon_{round}.log",
    benchmark:
        "benchmarks/polish/{variant}/{sample}/racon_{round}.tsv"
    conda:
        "../envs/racon.yaml"
    threads: get_tool_threads
    resources:
        mem_mb=4000,
    params:
        script=f"{SCRIPTS}/racon_round.sh",
        quality_threshold=config["polish"]["racon_quality_threshold"],
    shell:
        "{params.script} {input.backbone:q} {input.reads:q} {output.paf:q} "
        "{output.fasta:q} {threads} {params.quality_threshold} > {log:q} 2>&1"


rule nanopolish_index:
    input:
        reads=rules.basecall_reads.output.fastq,
        fast5=get_reads,
    output:
        index=multiext(
            "results/basecalls/{variant}/{sample}.fastq.gz.index",
            "",
            ".fai",
            ".gzi",
            ".readdb",
        ),
    log:
        "logs/nanopolish/{variant}/{sample}.index.log",
    benchmark:
        "benchmarks/nanopolish/{variant}/{sample}.index.tsv"
    conda:
        "../envs/nanopolish.yaml"
    threads: 1
    params:
        script=f"{SCRIPTS}/nanopolish_index.sh",
    shell:
        "{params.script} {input.fast5:q} {input.reads:q} > {log:q} 2>&1"


rule nanopolish_polish:
    input:
        draft=get_racon_output,
        reads=rules.basecall_reads.output.fastq,
        index=rules.nanopolish_index.output.index,
        fast5=get_reads,
    output:
        bam=temp("results/polish/{variant}/{sample}/nanopolish.bam"),
        bai=temp("results/polish/{variant}/{sample}/nanopolish.bam.bai"),
        fasta="results/polish/{variant}/{sample}/nanopolish.fasta",
    log:
        "logs/polish/{variant}/{sample}/nanopolish.log",
    benchmark:
        "benchmarks/polish/{variant}/{sample}/nanopolish.tsv"
    conda:
        "../envs/nanopolish.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        script=f"{SCRIPTS}/nanopolish_polish.sh",
        window=config["polish"]["nanopolish_window"],
    shell:
        "{params.script} {input.draft:q} {input.reads:q} {output.bam:q} "
        "{output.fasta:q} {threads} {params.window} > {log:q} 2>&1"


# medaka needs a model matching the basecaller; offline it only has R10.4.1 models,
# which do not fit R9.4.1 Taiyaki basecalls (hence off by default).
rule medaka_polish:
    input:
        draft=get_medaka_input,
        reads=rules.basecall_reads.output.fastq,
    output:
        "results/polish/{variant}/{sample}/medaka.fasta",
    log:
        "logs/polish/{variant}/{sample}/medaka.log",
    benchmark:
        "benchmarks/polish/{variant}/{sample}/medaka.tsv"
    conda:
        "../envs/medaka.yaml"
    threads: 2
    resources:
        mem_mb=8000,
    params:
        script=f"{SCRIPTS}/medaka_polish.sh",
        model=config["polish"]["medaka"]["model"],
    shell:
        "{params.script} {input.draft:q} {input.reads:q} {output:q} {params.model:q} "
        "{threads} > {log:q} 2>&1"
