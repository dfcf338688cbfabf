# Sensitivity scans (modelshrink sensitivity) and the variant they propose: each weight
# matrix pruned or quantized alone, the damage measured; per-layer settings within
# sensitivity.budget_points built into the variant "proposed", measured like the others.


rule sensitivity_scan:
    input:
        unpack(get_sensitivity_inputs),
    output:
        table="results/sensitivity/basecaller.tsv",
        heatmap=report(
            "results/plots/sensitivity.svg",
            caption="../report/sensitivity.rst",
            category="Sensitivity",
        ),
    log:
        "logs/sensitivity/scan.log",
    benchmark:
        "benchmarks/sensitivity/scan.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    resources:
        mem_mb=3000,
    params:
        grid=get_sensitivity_grid,
        chunks=SENSITIVITY["chunks"],
        chunk_samples=SENSITIVITY["chunk_samples"],
        reads=SENSITIVITY["reads"],
        read_samples=SENSITIVITY["read_samples"],
    shell:
        "modelshrink sensitivity scan {input.model:q} --chunks-from {input.chunks:q} "
        "--reads {input.reads:q} --reference {input.reference:q} {params.grid} "
        "--chunks {params.chunks} --chunk-samples {params.chunk_samples} "
        "--read-count {params.reads} --read-samples {params.read_samples} "
        "--threads {threads} -o {output.table:q} --heatmap {output.heatmap:q} > {log:q} 2>&1"


rule sensitivity_propose:
    input:
        unpack(get_sensitivity_inputs),
        scan=rules.sensitivity_scan.output.table,
    output:
        spec="results/sensitivity/proposed.yaml",
        report="results/sensitivity/proposed.json",
    log:
        "logs/sensitivity/propose.log",
    benchmark:
        "benchmarks/sensitivity/propose.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        budget=SENSITIVITY["budget_points"],
        chunks=SENSITIVITY["chunks"],
        chunk_samples=SENSITIVITY["chunk_samples"],
        reads=SENSITIVITY["verify_reads"],
        read_samples=SENSITIVITY["read_samples"],
    shell:
        "modelshrink sensitivity propose {input.model:q} --scan {input.scan:q} "
        "--budget-points {params.budget} --chunks-from {input.chunks:q} "
        "--reads {input.reads:q} --reference {input.reference:q} "
        "--chunks {params.chunks} --chunk-samples {params.chunk_samples} "
        "--read-count {params.reads} --read-samples {params.read_samples} "
        "-o {output.spec:q} --report {output.report:q} > {log:q} 2>&1"


# The proposed variant's spec exists only after the scan: a rule of its own reads it as
# an input file (compress_model takes its specs from config.yaml as params).
rule compress_proposed:
    input:
        model=f"results/models/{ORIGINAL}.safetensors",
        spec=rules.sensitivity_propose.output.spec,
    output:
        model="results/models/proposed.safetensors",
        report="results/models/proposed.report.json",
    log:
        "logs/model/compress/proposed.log",
    benchmark:
        "benchmarks/model/compress/proposed.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink compress {input.model:q} {output.model:q} --name proposed "
        "--spec {input.spec:q} --report {output.report:q} --threads {threads} "
        "--no-progress > {log:q} 2>&1"


rule merfish_sensitivity:
    input:
        model=rules.merfish_train.output.model,
        data=get_merfish_data,
    output:
        table="results/merfish/sensitivity.tsv",
        heatmap=report(
            "results/merfish/plots/sensitivity.svg",
            caption="../report/merfish_sensitivity.rst",
            category="merFISH",
        ),
    log:
        "logs/merfish/sensitivity.log",
    benchmark:
        "benchmarks/merfish/sensitivity.tsv"
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        grid=get_sensitivity_grid,
    shell:
        "modelshrink sensitivity merfish {input.model:q} --data {input.data:q} {params.grid} "
        "-o {output.table:q} --heatmap {output.heatmap:q} > {log:q} 2>&1"
