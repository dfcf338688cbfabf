# Real R9.4.1 reads (config real_reads), basecalled by every variant and scored like the
# sample's reads, so the summary shows each variant's change on real signal beside the
# simulated one. Evaluation only: fine-tuning never sees these reads.
rule real_reads_fetch:
    output:
        f"{REAL_READ_DIR}/{{real_read}}",
    log:
        "logs/real_reads/fetch/{real_read}.log",
    localrule: True
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        entry=get_real_read_entry,
    shell:
        "modelshrink fetch {params.entry[source]:q} {output:q} --sha256 {params.entry[sha256]} "
        "> {log:q} 2>&1 || {{ tail -n 1 {log:q} >&2; exit 1; }}"


rule real_reference_fetch:
    output:
        f"{REAL_READ_DIR}/reference.fasta",
    log:
        "logs/real_reads/fetch/reference.log",
    localrule: True
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        entry=get_real_reference_entry,
    shell:
        "modelshrink fetch {params.entry[source]:q} {output:q} --sha256 {params.entry[sha256]} "
        "> {log:q} 2>&1 || {{ tail -n 1 {log:q} >&2; exit 1; }}"


use rule basecall_reads as basecall_real_reads with:
    input:
        model=get_model,
        reads=get_real_read_files,
        settings="results/settings/basecall.json",
    output:
        fastq="results/real_reads/basecalls/{variant}.fastq.gz",
        summary="results/real_reads/basecalls/{variant}.speed.tsv",
        sequencing_summary="results/real_reads/basecalls/{variant}.sequencing_summary.txt",
    log:
        "logs/real_reads/basecall/{variant}.log",
    benchmark:
        "benchmarks/real_reads/basecall/{variant}.tsv"


use rule read_identity as real_read_identity with:
    input:
        reads=rules.basecall_real_reads.output.fastq,
        reference=rules.real_reference_fetch.output,
    output:
        per_read="results/real_reads/identity/{variant}.tsv",
        summary="results/real_reads/identity/{variant}.summary.tsv",
    log:
        "logs/real_reads/identity/{variant}.log",
    benchmark:
        "benchmarks/real_reads/identity/{variant}.tsv"
