# One convention for every rule that hands config settings to `modelshrink`: the job's
# slice of config.yaml (same keys) in results/settings/<name>.json, an input of the job,
# passed as `--settings FILE`. The file's content is this rule's params, so a changed
# setting rewrites exactly the files it is in and reruns exactly the jobs reading them;
# the jobs' own command lines carry no settings.
rule settings_write:
    output:
        "results/settings/{settings}.json",
    log:
        "logs/settings/{settings}.log",
    localrule: True
    conda:
        "../envs/modelshrink.yaml"
    threads: 1
    params:
        settings=get_settings,
    # printf, not run: (Snakemake runs a run: job as a new process that parses the whole
    # workflow again, ~10 s a file, 29 files in the demo); a slice is at most a few kB
    shell:
        "printf '%s\\n' {params.settings:q} > {output:q} 2> {log:q}"
