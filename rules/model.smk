# Downloads are localrules: they run on the submitting host, which has network where cluster
# nodes may not; offline, each fails with one message naming the file to place.
rule model_fetch:
    output:
        "resources/models/pretrained.checkpoint",
    log:
        "logs/model/fetch.log",
    priority: PRIORITY_SETUP
    localrule: True
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        source=config["model"]["checkpoint"],
        sha256=config["model"]["sha256"],
    shell:
        "modelshrink fetch {params.source:q} {output:q} --sha256 {params.sha256} > {log:q} 2>&1 "
        "|| {{ tail -n 1 {log:q} >&2; exit 1; }}"


rule training_fetch:
    output:
        "resources/training/mapped_signal_{index}.hdf5",
    log:
        "logs/training/fetch_{index}.log",
    priority: PRIORITY_SETUP
    localrule: True
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        entry=get_mapped_signal_entry,
    shell:
        "modelshrink fetch {params.entry[source]:q} {output:q} --sha256 {params.entry[sha256]} "
        "> {log:q} 2>&1 || {{ tail -n 1 {log:q} >&2; exit 1; }}"


rule model_convert:
    input:
        rules.model_fetch.output,
    output:
        f"results/models/{ORIGINAL}.safetensors",
    log:
        "logs/model/convert.log",
    benchmark:
        "benchmarks/model/convert.tsv"
    priority: PRIORITY_SETUP
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink convert {input:q} {output:q} > {log:q} 2>&1"


rule compress_model:
    input:
        model=get_compress_source,
        training=get_training_data,
        settings="results/settings/compress/{variant}.json",
    output:
        model="results/models/{variant}.safetensors",
        report="results/models/{variant}.report.json",
    log:
        "logs/model/compress/{variant}.log",
    benchmark:
        "benchmarks/model/compress/{variant}.tsv"
    wildcard_constraints:
        variant="|".join(COMPRESSED) or "(?!)",
    priority: PRIORITY_LONG_CHAIN
    conda:
        "../envs/modelshrink.yaml"
    # One thread: small-GEMM training is slower, not faster, on two threads.
    threads: 1
    resources:
        mem_mb=4000,
    params:
        training=get_training_option,
    shell:
        "modelshrink compress {input.model:q} {output.model:q} --name {wildcards.variant} "
        "--settings {input.settings:q} --report {output.report:q} {params.training} "
        "--threads {threads} --no-progress > {log:q} 2>&1"


rule model_stats:
    input:
        get_model,
    output:
        "results/models/{variant}.stats.json",
    log:
        "logs/model/stats/{variant}.log",
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink report model {input:q} -o {output:q} > {log:q} 2>&1"
