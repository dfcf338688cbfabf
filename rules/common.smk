"""Config loading, the sample sheet, wildcard constraints and every input function (get_*).
Checks and path logic live in modelshrink.workflow (`checks.check_workflow` is the one
validation entry point; `plan` says which files each job reads): docs/ARCHITECTURE.md.
"""

import importlib.util
import os
import re
import shlex
from pathlib import Path

import jsonschema
from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

if importlib.util.find_spec("modelshrink") is None:
    raise WorkflowError(
        "the Python running Snakemake cannot import the modelshrink package, which checks "
        "the config at startup: run Snakemake from the environment ./install.sh makes "
        "(.venv/bin/snakemake), or `pip install .` into Snakemake's environment"
    )

from modelshrink.errors import ModelshrinkError
from modelshrink.workflow import checks, config_files
from modelshrink.workflow.plan import (
    CLAIR3_MODEL_DIR,
    CLAIR3_MODEL_FILES,
    PORE_MODEL,
    REAL_READ_DIR,
    WorkflowPlan,
)
from modelshrink.workflow.sample_sheet import DEMO_DIR, read_sample_sheet

#: the demo configuration; a user's --configfile / --config is merged over it
DEMO_CONFIG = "config/config.yaml"
#: the schemas, relative to the workflow's folder
CONFIG_SCHEMA = "config/schema/config.schema.yaml"
SAMPLES_SCHEMA = "config/schema/samples.schema.yaml"


def checked(function, *args):
    """function(*args), its ModelshrinkError turned into Snakemake's one-line error."""
    try:
        return function(*args)
    except ModelshrinkError as error:
        raise WorkflowError(str(error)) from None


def validate_config():
    """Schema validation (fills defaults); a failure becomes one line naming the key."""
    try:
        validate(config, schema=f"../{CONFIG_SCHEMA}")
    except WorkflowError as error:
        cause = error.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        detail = jsonschema.exceptions.best_match([cause])
        key = ".".join(str(part) for part in detail.absolute_path) or "(top level)"
        raise WorkflowError(
            f"config key {key}: {detail.message} (see config/README.md and {CONFIG_SCHEMA})"
        ) from None


checked(config_files.check_yaml_syntax, DEMO_CONFIG)


configfile: DEMO_CONFIG


USER_CONFIGS = [*map(load_configfile, workflow.overwrite_configfiles)]
USER_CONFIGS.append(dict(workflow.config_settings.config))  # --config comes last
checked(config_files.replace_named_collections, config, USER_CONFIGS)
validate_config()
SAMPLES = checked(read_sample_sheet, config, f"{workflow.basedir}/{SAMPLES_SCHEMA}")
PLAN = checked(WorkflowPlan, config, SAMPLES)
checked(checks.check_workflow, PLAN)
SCRIPTS = f"{workflow.basedir}/scripts"  # glue scripts, found from any --directory
# envs/modelshrink.post-deploy.sh installs the package from here
os.environ.update(MODELSHRINK_WORKFLOW_DIR=workflow.basedir)
ORIGINAL, COMPRESSED, VARIANTS = PLAN.variants[0], PLAN.compressed, PLAN.variants
#: one worker thread per basecall job, so every core holds a job (two-thread jobs left a
#: core idle beside each one-thread job); the timing step times with TIMED_THREADS
BASECALL_THREADS = 1
TIMED_THREADS = 2
#: minimap2, racon and the identity steps take TOOL_THREADS, or one thread on inputs
#: under SMALL_INPUT_BYTES (the demo's, a test's): such a job takes seconds, and with two
#: threads it waits for two free cores, so the demo ran them one by one after basecalling
TOOL_THREADS = 2
SMALL_INPUT_BYTES = 20_000_000
#: which ready job takes a free core: the longest chains first (setup; compression and
#: the sensitivity scan, each followed by basecalls and assembly; merFISH training), then
#: basecalls, then the short downstream jobs, so no long job starts last
PRIORITY_SETUP = 50
PRIORITY_LONG_CHAIN = 40
PRIORITY_MERFISH = 30
PRIORITY_BASECALL = 20


# on start of a real run only, so plans can be inspected anywhere
onstart:
    if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
        checked(checks.check_tools, PLAN)


wildcard_constraints:
    sample="|".join(SAMPLES),
    variant="|".join(VARIANTS),
    merfish_variant="|".join(PLAN.merfish_variants) or "(?!)",
    real_read="|".join(map(re.escape, PLAN.real_read_files)) or "(?!)",
    index=r"\d+",
    caller="modelshrink|bcftools|freebayes|nanopolish|clair3",
    round=r"\d+",
    settings=r"[\w/]+",


# --- input functions --------------------------------------------------------------


def get_settings(wildcards):
    """The body of results/settings/{settings}.json (rules/settings.smk)."""
    return checked(PLAN.settings, wildcards.settings)


def get_reads(wildcards):
    return SAMPLES[wildcards.sample]["reads"]


def get_reference(wildcards):
    return SAMPLES[wildcards.sample]["reference"]


def get_truth_vcf(wildcards):
    return SAMPLES[wildcards.sample]["truth_vcf"]


def get_model(wildcards):
    return f"results/models/{wildcards.variant}.safetensors"


def get_tool_threads(wildcards, input):
    """TOOL_THREADS, or 1 for a small input. Snakemake asks again once the input exists,
    just before it starts the job; until then the size is unknown."""
    if not all(os.path.isfile(path) for path in input):
        return TOOL_THREADS
    small = sum(os.path.getsize(path) for path in input) < SMALL_INPUT_BYTES
    return 1 if small else TOOL_THREADS


def get_basecall_gpus(wildcards):
    """One GPU for basecalling when basecall.device is cuda, none otherwise."""
    return 1 if config["basecall"]["device"] == "cuda" else 0


def get_timing_model_arguments(wildcards, input):
    """`NAME=MODEL ...` for `modelshrink timing`, in VARIANTS order."""
    pairs = zip(VARIANTS, input.models, strict=True)
    return " ".join(shlex.quote(f"{variant}={path}") for variant, path in pairs)


def get_timing_threads(wildcards):
    """Every core of a local run: the scheduler starts no other job beside one that holds
    all cores, so the models are timed alone. A cluster run has no --cores: there the
    job asks for the timed threads and the profile holds its node exclusively."""
    return workflow.resource_settings.cores or TIMED_THREADS


def get_timing_basecall_threads(wildcards, threads):
    """Worker threads while timing (never more than the job's)."""
    return min(TIMED_THREADS, threads)


def get_real_read_files(wildcards):
    return [f"{REAL_READ_DIR}/{name}" for name in PLAN.real_read_files]


def get_real_read_entry(wildcards):
    """{source, sha256} of a real read file (rule real_reads_fetch)."""
    return PLAN.real_read_files[wildcards.real_read]


def get_real_reference_entry(wildcards):
    return config["real_reads"]["reference"]


def get_compress_source(wildcards):
    """The model a variant is compressed from: its `base` variant's file, by default
    the converted original (so a fine-tuned variant can be stored a second way
    without fine-tuning again)."""
    return f"results/models/{PLAN.variant_base(wildcards.variant)}.safetensors"


def get_mapped_signal_entry(wildcards):
    """{source, sha256} of a training.mapped_signal entry (rule training_fetch)."""
    return checked(PLAN.fetched_mapped_signal, int(wildcards.index))


def get_training_data(wildcards):
    return PLAN.training_data(wildcards.variant)


def get_training_option(wildcards, input):
    """`--training FILE ...` for variants that use training chunks, nothing for the others."""
    if not input.training:
        return ""
    return "--training " + " ".join(shlex.quote(path) for path in input.training)


def get_flye_options(wildcards):
    return PLAN.flye_options()


def get_pass_only_flag(wildcards):
    return "--pass-only" if config["evaluation"]["pass_only"] else ""


def get_racon_backbone(wildcards):
    return PLAN.racon_backbone(
        wildcards.variant, wildcards.sample, int(wildcards.round)
    )


def get_racon_output(wildcards):
    return PLAN.racon_output(wildcards.variant, wildcards.sample)


def get_medaka_input(wildcards):
    return PLAN.medaka_input(wildcards.variant, wildcards.sample)


def get_stage_assembly(wildcards):
    return PLAN.assembly_stages()[wildcards.stage].format(**wildcards)


def get_raw_calls(wildcards):
    return PLAN.raw_calls(wildcards.variant, wildcards.sample)


def get_summary_inputs(wildcards):
    return PLAN.summary_inputs()


def get_merfish_summary_inputs(wildcards):
    return PLAN.merfish_summary_inputs()


def get_sensitivity_inputs(wildcards):
    return PLAN.sensitivity_inputs()


def get_clair3_model_folder(wildcards, input):
    return str(Path(input.model[0]).parent)


def get_confident_regions_option(wildcards, input):
    """`-f BED` for both evaluators (modelshrink evaluate and hap.py share the flag)."""
    return f"-f {shlex.quote(input.regions[0])}" if input.regions else ""


def get_final_output():
    return PLAN.final_outputs()
