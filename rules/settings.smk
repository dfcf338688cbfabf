# One convention for every rule that hands config settings to `modelshrink`: the job's
# slice of config.yaml (same keys) in results/settings/<name>.json, an input of the job,
# passed as `--settings FILE`. The file's content is this rule's params, so a changed
# setting rewrites exactly the files it is in and reruns exactly the jobs reading them;
# no settings travel on a command line, whose length is limited.
rule settings_write:
    output:
        "results/settings/{settings}.json",
    log:
        "logs/settings/{settings}.log",
    localrule: True
    threads: 1
    params:
        settings=get_settings,
    run:
        write_text_atomic(Path(output[0]), params.settings + "\n")
