rule simulate_genome:
    input:
        "results/settings/simulate.json",
    output:
        f"{DEMO_DIR}/reference.fasta",
    log:
        "logs/demo/simulate_genome.log",
    priority: PRIORITY_SETUP
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink simulate genome --settings {input:q} -o {output:q} > {log:q} 2>&1"


rule simulate_variants:
    input:
        settings="results/settings/simulate.json",
        reference=rules.simulate_genome.output,
    output:
        vcf=f"{DEMO_DIR}/truth.vcf.gz",
        tbi=f"{DEMO_DIR}/truth.vcf.gz.tbi",
        sample=f"{DEMO_DIR}/sample.fasta",
    log:
        "logs/demo/simulate_variants.log",
    priority: PRIORITY_SETUP
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink simulate variants --settings {input.settings:q} "
        "--reference {input.reference:q} --vcf {output.vcf:q} "
        "--sample-fasta {output.sample:q} > {log:q} 2>&1"


# The R9.4.1 k-mer model the simulator draws signal from (uncalled4's copy, verified by
# its sha256); a localrule, so a cluster job never downloads it.
rule pore_model_fetch:
    output:
        PORE_MODEL,
    log:
        "logs/demo/pore_model_fetch.log",
    priority: PRIORITY_SETUP
    localrule: True
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink simulate pore-model -o {output:q} > {log:q} 2>&1 "
        "|| {{ tail -n 1 {log:q} >&2; exit 1; }}"


rule simulate_reads:
    input:
        settings="results/settings/simulate.json",
        genome=rules.simulate_variants.output.sample,
        pore_model=rules.pore_model_fetch.output,
    output:
        fast5=f"{DEMO_DIR}/reads.fast5",
        pod5=f"{DEMO_DIR}/reads.pod5",
        truth=f"{DEMO_DIR}/reads_truth.tsv",
        chunks=f"{DEMO_DIR}/training_chunks.hdf5",
    log:
        "logs/demo/simulate_reads.log",
    benchmark:
        "benchmarks/demo/simulate_reads.tsv"
    priority: PRIORITY_SETUP
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink simulate reads --settings {input.settings:q} --genome {input.genome:q} "
        "--fast5 {output.fast5:q} --pod5 {output.pod5:q} --truth {output.truth:q} "
        "--chunks {output.chunks:q} --pore-model {input.pore_model:q} > {log:q} 2>&1"


rule reference_prepare:
    input:
        get_reference,
    output:
        fasta="results/reference/{sample}.fasta",
        fai="results/reference/{sample}.fasta.fai",
    log:
        "logs/reference/{sample}.log",
    conda:
        "../envs/samtools.yaml"
    threads: 1
    shell:
        "(cp {input:q} {output.fasta:q}.tmp && mv {output.fasta:q}.tmp {output.fasta:q} "
        "&& samtools faidx {output.fasta:q}) > {log:q} 2>&1"
