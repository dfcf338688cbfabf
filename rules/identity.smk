rule read_identity:
    input:
        reads=rules.basecall_reads.output.fastq,
        reference=rules.reference_prepare.output.fasta,
    output:
        per_read="results/identity/{variant}/{sample}.tsv",
        summary="results/identity/{variant}/{sample}.summary.tsv",
    log:
        "logs/identity/{variant}/{sample}.log",
    benchmark:
        "benchmarks/identity/{variant}/{sample}.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: get_tool_threads
    shell:
        "modelshrink identity reads --reads {input.reads:q} --reference {input.reference:q} "
        "--out {output.per_read:q} --summary {output.summary:q} --threads {threads} "
        "> {log:q} 2>&1"


rule assembly_identity:
    input:
        assembly=get_stage_assembly,
        reference=rules.reference_prepare.output.fasta,
    output:
        pieces="results/assembly_identity/{variant}/{sample}/{stage}.tsv",
        summary="results/assembly_identity/{variant}/{sample}/{stage}.summary.tsv",
    log:
        "logs/assembly_identity/{variant}/{sample}/{stage}.log",
    benchmark:
        "benchmarks/assembly_identity/{variant}/{sample}/{stage}.tsv"
    wildcard_constraints:
        stage="draft|racon|nanopolish|medaka",
    conda:
        "../envs/modelshrink.yaml"
    threads: get_tool_threads
    params:
        script=f"{SCRIPTS}/assembly_identity.sh",
    shell:
        "{params.script} {input.assembly:q} {input.reference:q} {output.pieces:q} "
        "{output.summary:q} {threads} > {log:q} 2>&1"
