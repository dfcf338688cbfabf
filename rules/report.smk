rule report_summary:
    input:
        files=get_summary_inputs,
        settings="results/settings/report/summary.json",
    output:
        report(
            "results/summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/report/summary.log",
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink report summary --settings {input.settings:q} -o {output:q} > {log:q} 2>&1"


rule report_plots:
    input:
        summary=rules.report_summary.output,
        read_identity=PLAN.read_identity_tables(),
        settings="results/settings/report/summary.json",
    output:
        read_identity=report(
            "results/plots/read_identity.svg",
            caption="../report/read_identity.rst",
            category="Plots",
        ),
        pareto=report(
            "results/plots/size_vs_accuracy.svg",
            caption="../report/size_vs_accuracy.rst",
            category="Plots",
        ),
        change=report(
            "results/plots/identity_change.svg",
            caption="../report/identity_change.rst",
            category="Plots",
        ),
        f1=report(
            "results/plots/f1.svg",
            caption="../report/f1.rst",
            category="Plots",
        ),
    log:
        "logs/report/plots.log",
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    shell:
        "modelshrink report plots --summary {input.summary:q} --settings {input.settings:q} "
        "--read-identity-plot {output.read_identity:q} --pareto-plot {output.pareto:q} "
        "--change-plot {output.change:q} --f1-plot {output.f1:q} > {log:q} 2>&1"
