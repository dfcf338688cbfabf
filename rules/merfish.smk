# merFISH spot detector (anglerFISH): tiles -> float32 network -> variants -> scores -> report.
# Settings: the merfish: section of config/config.yaml (config/README.md); every job reads
# only its own settings file (rules/settings.smk), so editing one variant reruns that
# variant alone.


rule merfish_simulate:
    input:
        settings="results/settings/merfish/simulate.json",
    output:
        directory("results/merfish/data"),
    log:
        "logs/merfish/simulate.log",
    benchmark:
        "benchmarks/merfish/simulate.tsv"
    priority: PRIORITY_MERFISH
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink merfish simulate --settings {input.settings:q} --out {output:q} "
        "> {log:q} 2>&1"


rule merfish_train:
    input:
        data=PLAN.merfish_data,
        settings="results/settings/merfish/train.json",
    output:
        model="results/merfish/train/float32.safetensors",
        history="results/merfish/train/history.json",
    log:
        "logs/merfish/train.log",
    benchmark:
        "benchmarks/merfish/train.tsv"
    priority: PRIORITY_MERFISH
    conda:
        "../envs/modelshrink.yaml"
    # One thread: on two busy cores two torch threads train this small U-Net slower.
    threads: 1
    resources:
        mem_mb=4000,
    shell:
        "modelshrink merfish train --settings {input.settings:q} --data {input.data:q} "
        "--out {output.model:q} "
        "--history {output.history:q} --threads {threads} > {log:q} 2>&1"


rule merfish_compress:
    input:
        model=rules.merfish_train.output.model,
        data=PLAN.merfish_data,
        settings="results/settings/merfish/compress/{merfish_variant}.json",
    output:
        model="results/merfish/variants/{merfish_variant}.safetensors",
        summary="results/merfish/variants/{merfish_variant}.json",
    log:
        "logs/merfish/compress/{merfish_variant}.log",
    benchmark:
        "benchmarks/merfish/compress/{merfish_variant}.tsv"
    priority: PRIORITY_MERFISH
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    shell:
        "modelshrink merfish compress --settings {input.settings:q} --model {input.model:q} "
        "--data {input.data:q} --variant {wildcards.merfish_variant} --out {output.model:q} "
        "--summary {output.summary:q} --threads {threads} > {log:q} 2>&1"


rule merfish_evaluate:
    input:
        model=rules.merfish_compress.output.model,
        reference=rules.merfish_train.output.model,
        data=PLAN.merfish_data,
        settings="results/settings/merfish/evaluate.json",
    output:
        metrics="results/merfish/evaluation/{merfish_variant}.json",
        curves="results/merfish/evaluation/{merfish_variant}.curves.tsv",
        maps=report(
            "results/merfish/maps/{merfish_variant}.png",
            caption="../report/merfish_maps.rst",
            category="merFISH",
            subcategory="Probability maps",
            labels={"variant": "{merfish_variant}"},
        ),
    log:
        "logs/merfish/evaluate/{merfish_variant}.log",
    benchmark:
        "benchmarks/merfish/evaluate/{merfish_variant}.tsv"
    conda:
        "../envs/modelshrink.yaml"
    # One thread: the time per tile is stated for one thread, comparable across variants.
    # The speed-up is against the float32 model timed in the same job, interleaved, so
    # load from other jobs on a shared machine hits both alike.
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "modelshrink merfish evaluate --model {input.model:q} --data {input.data:q} "
        "--settings {input.settings:q} --reference {input.reference:q} "
        "--out {output.metrics:q} "
        "--curves {output.curves:q} --maps {output.maps:q} --threads {threads} > {log:q} 2>&1"


rule merfish_report:
    input:
        reference=rules.merfish_train.output.model,
        results=get_merfish_summary_inputs,
        settings="results/settings/merfish/report.json",
    output:
        report(
            "results/merfish/summary.tsv",
            caption="../report/merfish_summary.rst",
            category="merFISH",
            subcategory="Summary",
        ),
    log:
        "logs/merfish/report.log",
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink report merfish --settings {input.settings:q} "
        "--reference {input.reference:q} -o {output:q} > {log:q} 2>&1"


rule merfish_plots:
    input:
        summary=rules.merfish_report.output,
        curves=PLAN.merfish_curves(),
    output:
        size=report(
            "results/merfish/plots/size_vs_accuracy.svg",
            caption="../report/merfish_size_vs_accuracy.rst",
            category="merFISH",
            subcategory="Plots",
        ),
        speed=report(
            "results/merfish/plots/speed.svg",
            caption="../report/merfish_speed.rst",
            category="merFISH",
            subcategory="Plots",
        ),
        curves=report(
            "results/merfish/plots/curves.png",
            caption="../report/merfish_curves.rst",
            category="merFISH",
            subcategory="Plots",
        ),
    log:
        "logs/merfish/plots.log",
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink report merfish-plots --summary {input.summary:q} "
        "--size-plot {output.size:q} --speed-plot {output.speed:q} "
        "--curves {input.curves:q} --curves-plot {output.curves:q} > {log:q} 2>&1"


# `snakemake --cores 2 merfish_all` runs the merFISH branch alone.
rule merfish_all:
    input:
        PLAN.merfish_outputs(),
