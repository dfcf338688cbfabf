rule modelshrink_evaluate:
    input:
        truth=get_truth_vcf,
        calls="results/calls/{variant}/{sample}.{caller}.vcf.gz",
        reference=rules.reference_prepare.output.fasta,
        settings="results/settings/evaluate.json",
        regions=PLAN.confident_regions(),
    output:
        multiext(
            "results/evaluation/{variant}/{sample}.{caller}.builtin",
            ".summary.csv",
            ".metrics.json",
            ".vcf.gz",
        ),
    log:
        "logs/evaluation/{variant}/{sample}.{caller}.builtin.log",
    benchmark:
        "benchmarks/evaluation/{variant}/{sample}.{caller}.builtin.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        prefix="results/evaluation/{variant}/{sample}.{caller}.builtin",
        regions=get_confident_regions_option,
    shell:
        "modelshrink evaluate {input.truth:q} {input.calls:q} -r {input.reference:q} "
        "-o {params.prefix:q} --ploidy 1 --settings {input.settings:q} {params.regions} "
        "> {log:q} 2>&1"


# hap.py treats a haploid "1" as half a call (every call FN and FP): make haploid
# genotypes homozygous diploid ("1" -> "1/1") on both sides first.
rule happy_truth_diploid:
    input:
        get_truth_vcf,
    output:
        "results/evaluation/truth/{sample}.diploid.vcf.gz",
    log:
        "logs/evaluation/truth/{sample}.diploid.log",
    conda:
        "../envs/samtools.yaml"
    threads: 1
    params:
        script=f"{SCRIPTS}/haploid_to_diploid.sh",
    shell:
        "{params.script} {input:q} {output:q} > {log:q} 2>&1"


rule happy_calls_diploid:
    input:
        "results/calls/{variant}/{sample}.{caller}.vcf.gz",
    output:
        "results/calls/{variant}/{sample}.{caller}.diploid.vcf.gz",
    log:
        "logs/calls/{variant}/{sample}.{caller}.diploid.log",
    conda:
        "../envs/samtools.yaml"
    threads: 1
    params:
        script=f"{SCRIPTS}/haploid_to_diploid.sh",
    shell:
        "{params.script} {input:q} {output:q} > {log:q} 2>&1"


rule happy_evaluate:
    input:
        truth=rules.happy_truth_diploid.output,
        calls=rules.happy_calls_diploid.output,
        reference=rules.reference_prepare.output.fasta,
        fai=rules.reference_prepare.output.fai,
        regions=PLAN.confident_regions(),
    output:
        multiext(
            "results/evaluation/{variant}/{sample}.{caller}.happy",
            ".summary.csv",
            ".metrics.json.gz",
            ".vcf.gz",
        ),
    log:
        "logs/evaluation/{variant}/{sample}.{caller}.happy.log",
    benchmark:
        "benchmarks/evaluation/{variant}/{sample}.{caller}.happy.tsv"
    conda:
        "../envs/happy.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        prefix="results/evaluation/{variant}/{sample}.{caller}.happy",
        pass_only=get_pass_only_flag,
        regions=get_confident_regions_option,
    shell:
        "hap.py {input.truth:q} {input.calls:q} -r {input.reference:q} "
        "-o {params.prefix:q} --threads {threads} {params.pass_only} {params.regions} "
        "> {log:q} 2>&1"
