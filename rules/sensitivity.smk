# Sensitivity scans (modelshrink sensitivity) and the variant they propose: each weight
# matrix pruned or quantized alone, the damage measured; per-layer settings within
# sensitivity.budget_points built into the variant "proposed", measured like the others.


rule sensitivity_scan:
    input:
        unpack(get_sensitivity_inputs),
        settings="results/settings/sensitivity/scan.json",
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
    priority: PRIORITY_LONG_CHAIN
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    resources:
        mem_mb=3000,
    shell:
        "modelshrink sensitivity scan {input.model:q} --chunks-from {input.chunks:q} "
        "--reads {input.reads:q} --reference {input.reference:q} "
        "--settings {input.settings:q} --threads {threads} -o {output.table:q} "
        "--heatmap {output.heatmap:q} > {log:q} 2>&1"


rule sensitivity_propose:
    input:
        unpack(get_sensitivity_inputs),
        scan=rules.sensitivity_scan.output.table,
        settings="results/settings/sensitivity/propose.json",
    output:
        spec="results/sensitivity/proposed.yaml",
        report="results/sensitivity/proposed.json",
    log:
        "logs/sensitivity/propose.log",
    benchmark:
        "benchmarks/sensitivity/propose.tsv"
    priority: PRIORITY_LONG_CHAIN
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink sensitivity propose {input.model:q} --scan {input.scan:q} "
        "--chunks-from {input.chunks:q} --reads {input.reads:q} "
        "--reference {input.reference:q} --settings {input.settings:q} "
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
    priority: PRIORITY_LONG_CHAIN
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
        data=PLAN.merfish_data,
        settings="results/settings/sensitivity/merfish.json",
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
    shell:
        "modelshrink sensitivity merfish {input.model:q} --data {input.data:q} "
        "--settings {input.settings:q} -o {output.table:q} --heatmap {output.heatmap:q} "
        "> {log:q} 2>&1"
