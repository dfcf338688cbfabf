rule modelshrink_call:
    input:
        bam=rules.minimap2_align.output.bam,
        bai=rules.minimap2_align.output.bai,
        reference=rules.reference_prepare.output.fasta,
        settings="results/settings/call.json",
    output:
        "results/calls/{variant}/{sample}.modelshrink.raw.vcf.gz",
    log:
        "logs/calls/{variant}/{sample}.modelshrink.log",
    benchmark:
        "benchmarks/calls/{variant}/{sample}.modelshrink.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink call --bam {input.bam:q} --reference {input.reference:q} "
        "--vcf {output:q} --sample {wildcards.sample:q} --settings {input.settings:q} "
        "> {log:q} 2>&1"


# What the callers could use, whichever runs: reads passing min_mapq and the share of the
# reference covered min_depth deep by them (summary: reads_used_for_calling,
# callable_fraction), so a variant whose reads map worse shows it before its F1 drops.
rule calling_usage:
    input:
        bam=rules.minimap2_align.output.bam,
        bai=rules.minimap2_align.output.bai,
    output:
        "results/calls/{variant}/{sample}.usage.tsv",
    log:
        "logs/calls/{variant}/{sample}.usage.log",
    benchmark:
        "benchmarks/calls/{variant}/{sample}.usage.tsv"
    conda:
        "../envs/samtools.yaml"
    threads: 1
    params:
        script=f"{SCRIPTS}/calling_usage.sh",
        min_mapq=config["calling"]["min_mapq"],
        min_depth=config["calling"]["min_depth"],
    shell:
        "{params.script} {input.bam:q} {params.min_mapq} {params.min_depth} {output:q} "
        "> {log:q} 2>&1"


rule bcftools_call:
    input:
        bam=rules.minimap2_align.output.bam,
        bai=rules.minimap2_align.output.bai,
        reference=rules.reference_prepare.output.fasta,
    output:
        "results/calls/{variant}/{sample}.bcftools.raw.vcf.gz",
    log:
        "logs/calls/{variant}/{sample}.bcftools.log",
    benchmark:
        "benchmarks/calls/{variant}/{sample}.bcftools.tsv"
    conda:
        "../envs/samtools.yaml"
    threads: 1
    params:
        min_mapq=config["calling"]["min_mapq"],
    shell:
        # ONT profile of bcftools (-X ont) without its -I, so indels are called too, and
        # without its -Q 5: with R9.4.1 reads of median Q 7 that cut drops many bases,
        # and more of a variant's whose quality scores are a little lower
        "(bcftools mpileup -B -Q 0 --max-BQ 30 -q {params.min_mapq} -a AD,DP "
        "-f {input.reference:q} -Ou {input.bam:q} "
        "| bcftools call -m -v --ploidy 1 -Oz -o {output:q}) 2> {log:q}"


rule freebayes_call:
    input:
        bam=rules.minimap2_align.output.bam,
        bai=rules.minimap2_align.output.bai,
        reference=rules.reference_prepare.output.fasta,
    output:
        "results/calls/{variant}/{sample}.freebayes.raw.vcf.gz",
    log:
        "logs/calls/{variant}/{sample}.freebayes.log",
    benchmark:
        "benchmarks/calls/{variant}/{sample}.freebayes.tsv"
    conda:
        "../envs/freebayes.yaml"
    threads: 1
    params:
        min_mapq=config["calling"]["min_mapq"],
        min_depth=config["calling"]["min_depth"],
    shell:
        "(freebayes -f {input.reference:q} -p 1 --min-mapping-quality {params.min_mapq} "
        "--min-coverage {params.min_depth} {input.bam:q} | bgzip > {output:q}) 2> {log:q}"


rule nanopolish_call:
    input:
        bam=rules.minimap2_align.output.bam,
        bai=rules.minimap2_align.output.bai,
        reference=rules.reference_prepare.output.fasta,
        reads=rules.basecall_reads.output.fastq,
        index=rules.nanopolish_index.output.index,
        fast5=get_reads,
    output:
        "results/calls/{variant}/{sample}.nanopolish.raw.vcf.gz",
    log:
        "logs/calls/{variant}/{sample}.nanopolish.log",
    benchmark:
        "benchmarks/calls/{variant}/{sample}.nanopolish.tsv"
    conda:
        "../envs/nanopolish.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        script=f"{SCRIPTS}/nanopolish_call.sh",
        min_depth=config["calling"]["min_depth"],
        window=config["polish"]["nanopolish_window"],
    shell:
        "{params.script} {input.reference:q} {input.reads:q} {input.bam:q} "
        "{output:q} {threads} {params.window} {params.min_depth} > {log:q} 2>&1"


# The Clair3 model shipped with the clair3 env (calling.clair3.model), copied out of it so
# that clair3_call can name it as an input; when the build lacks it, one message says
# where to get it. Not used when calling.clair3.model_path names a folder.
rule clair3_model:
    output:
        [f"{CLAIR3_MODEL_DIR}/{{clair3_model}}/{name}" for name in CLAIR3_MODEL_FILES],
    log:
        "logs/calls/clair3_model/{clair3_model}.log",
    wildcard_constraints:
        clair3_model=r"[A-Za-z0-9_.+-]+",
    localrule: True
    conda:
        "../envs/clair3.yaml"
    threads: 1
    params:
        script=f"{SCRIPTS}/clair3_model.sh",
        folder=f"{CLAIR3_MODEL_DIR}/{{clair3_model}}",
    shell:
        "{params.script} {wildcards.clair3_model:q} {params.folder:q} > {log:q} 2>&1 "
        "|| {{ cat {log:q} >&2; exit 1; }}"


rule clair3_call:
    input:
        bam=rules.minimap2_align.output.bam,
        bai=rules.minimap2_align.output.bai,
        reference=rules.reference_prepare.output.fasta,
        fai=rules.reference_prepare.output.fai,
        model=PLAN.clair3_model_files(),
    output:
        "results/calls/{variant}/{sample}.clair3.raw.vcf.gz",
    log:
        "logs/calls/{variant}/{sample}.clair3.log",
    benchmark:
        "benchmarks/calls/{variant}/{sample}.clair3.tsv"
    conda:
        "../envs/clair3.yaml"
    threads: 4
    resources:
        mem_mb=8000,
    params:
        model=get_clair3_model_folder,
        platform=config["calling"]["clair3"]["platform"],
        workdir="results/calls/{variant}/{sample}.clair3.work",
    shell:
        "(rm -rf {params.workdir:q} "
        "&& run_clair3.sh --bam_fn={input.bam:q} --ref_fn={input.reference:q} "
        "--threads={threads} --platform={params.platform} --model_path={params.model:q} "
        "--output={params.workdir:q} --haploid_precise --include_all_ctgs "
        "&& mv {params.workdir:q}/merge_output.vcf.gz {output:q} "
        "&& rm -rf {params.workdir:q}) > {log:q} 2>&1"


rule bcftools_normalise:
    input:
        calls=get_raw_calls,
        reference=rules.reference_prepare.output.fasta,
    output:
        vcf="results/calls/{variant}/{sample}.{caller}.vcf.gz",
        tbi="results/calls/{variant}/{sample}.{caller}.vcf.gz.tbi",
    log:
        "logs/calls/{variant}/{sample}.{caller}.normalise.log",
    conda:
        "../envs/samtools.yaml"
    threads: 1
    shell:
        "(bcftools norm -f {input.reference:q} -m -any -Ou {input.calls:q} "
        "| bcftools sort -Oz -o {output.vcf:q} && tabix -f -p vcf {output.vcf:q}) 2> {log:q}"
