rule minimap2_overlap:
    input:
        reads=rules.basecall_reads.output.fastq,
    output:
        temp("results/assembly/{variant}/{sample}/overlaps.paf.gz"),
    log:
        "logs/assembly/{variant}/{sample}/overlap.log",
    benchmark:
        "benchmarks/assembly/{variant}/{sample}/overlap.tsv"
    conda:
        "../envs/miniasm.yaml"
    threads: get_tool_threads
    resources:
        mem_mb=4000,
    shell:
        "(minimap2 -x ava-ont -t {threads} {input.reads:q} {input.reads:q} "
        "| gzip -1 > {output:q}) 2> {log:q}"


rule miniasm_assemble:
    input:
        reads=rules.basecall_reads.output.fastq,
        overlaps=rules.minimap2_overlap.output,
    output:
        gfa="results/assembly/{variant}/{sample}/miniasm.gfa",
        fasta="results/assembly/{variant}/{sample}/miniasm.fasta",
    log:
        "logs/assembly/{variant}/{sample}/miniasm.log",
    benchmark:
        "benchmarks/assembly/{variant}/{sample}/miniasm.tsv"
    conda:
        "../envs/miniasm.yaml"
    threads: 1
    params:
        options=config["assembly"]["miniasm_options"],
    shell:
        "(miniasm {params.options} -f {input.reads:q} {input.overlaps:q} > {output.gfa:q} "
        '&& awk \'$1 == "S" {{print ">" $2; print $3}}\' {output.gfa:q} > {output.fasta:q}) '
        "2> {log:q}"


# Debian 12's flye 2.9.1 is broken as packaged (calls minimap2 --secondary-seq and a
# missing flye-samtools): use --sdm conda (envs/flye.yaml) or the launcher that
# install.sh puts in .venv/bin; see config/README.md.
rule flye_assemble:
    input:
        reads=rules.basecall_reads.output.fastq,
    output:
        fasta="results/assembly/{variant}/{sample}/flye.fasta",
        info="results/assembly/{variant}/{sample}/flye_info.txt",
    log:
        "logs/assembly/{variant}/{sample}/flye.log",
    benchmark:
        "benchmarks/assembly/{variant}/{sample}/flye.tsv"
    conda:
        "../envs/flye.yaml"
    threads: 4
    resources:
        mem_mb=9000,
    params:
        script=f"{SCRIPTS}/flye_assemble.sh",
        read_type=config["assembly"]["flye"]["read_type"],
        iterations=config["assembly"]["flye"]["iterations"],
        options=get_flye_options,
    shell:
        "{params.script} {input.reads:q} {output.fasta:q} {output.info:q} {threads} "
        "{params.read_type} {params.iterations} {params.options} > {log:q} 2>&1"


# Rebaler-like reference-guided assembly: the reads' consensus laid on the reference by
# racon. Regions without coverage keep the reference sequence (a reference bias).
rule reference_guided_assemble:
    input:
        reads=rules.basecall_reads.output.fastq,
        reference=rules.reference_prepare.output.fasta,
    output:
        paf=temp("results/assembly/{variant}/{sample}/reference_guided.paf"),
        fasta="results/assembly/{variant}/{sample}/reference_guided.fasta",
    log:
        "logs/assembly/{variant}/{sample}/reference_guided.log",
    benchmark:
        "benchmarks/assembly/{variant}/{sample}/reference_guided.tsv"
    conda:
        "../envs/racon.yaml"
    threads: get_tool_threads
    params:
        quality_threshold=config["polish"]["racon_quality_threshold"],
    shell:
        "(minimap2 -x map-ont -t {threads} {input.reference:q} {input.reads:q} > {output.paf:q} "
        "&& racon -u -q {params.quality_threshold} -t {threads} {input.reads:q} "
        "{output.paf:q} {input.reference:q} "
        "> {output.fasta:q}) 2> {log:q}"
