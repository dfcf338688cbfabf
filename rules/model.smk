rule model_fetch:
    output:
        "resources/models/pretrained.checkpoint",
    params:
        source=config["model"]["checkpoint"],
        sha256=config["model"]["sha256"],
    log:
        "logs/model/fetch.log",
    threads: 1
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink fetch {params.source:q} {output:q} --sha256 {params.sha256} > {log:q} 2>&1"


rule model_convert:
    input:
        rules.model_fetch.output,
    output:
        "results/models/original.safetensors",
    log:
        "logs/model/convert.log",
    benchmark:
        "benchmarks/model/convert.tsv"
    threads: 1
    conda:
        "../envs/modelshrink.yaml"
    shell:
        "modelshrink convert {input:q} {output:q} > {log:q} 2>&1"
