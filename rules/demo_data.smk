rule simulate_genome:
    output:
        f"{DEMO_DIR}/reference.fasta",
    log:
        "logs/demo/simulate_genome.log",
    threads: 1
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink simulate genome --config {workflow.configfiles[0]:q} -o {output:q} > {log:q} 2>&1"


rule simulate_variants:
    input:
        rules.simulate_genome.output,
    output:
        vcf=f"{DEMO_DIR}/truth.vcf.gz",
        tbi=f"{DEMO_DIR}/truth.vcf.gz.tbi",
        sample=f"{DEMO_DIR}/sample.fasta",
    log:
        "logs/demo/simulate_variants.log",
    threads: 1
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink simulate variants --config {workflow.configfiles[0]:q} "
        "--reference {input:q} --vcf {output.vcf:q} --sample-fasta {output.sample:q} > {log:q} 2>&1"


rule simulate_reads:
    input:
        rules.simulate_variants.output.sample,
    output:
        fast5=f"{DEMO_DIR}/reads.fast5",
        pod5=f"{DEMO_DIR}/reads.pod5",
        truth=f"{DEMO_DIR}/reads_truth.tsv",
        chunks=f"{DEMO_DIR}/training_chunks.hdf5",
    log:
        "logs/demo/simulate_reads.log",
    benchmark:
        "benchmarks/demo/simulate_reads.tsv"
    threads: 1
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink simulate reads --config {workflow.configfiles[0]:q} --genome {input:q} "
        "--fast5 {output.fast5:q} --pod5 {output.pod5:q} --truth {output.truth:q} "
        "--chunks {output.chunks:q} > {log:q} 2>&1"
