"""Config loading and checks, wildcard constraints and every input function (get_*).

Why everything is checked here: a typo in a variant or a missing tool must stop the
run at startup with one clear message, not an hour later inside a cluster job.
"""

import copy
import csv
import json
import os
import re
import shlex
import shutil
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import yaml
from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

#: the demo configuration; a user's --configfile / --config is merged over it
DEMO_CONFIG = "config/config.yaml"
#: the schemas, relative to the workflow's folder
CONFIG_SCHEMA = "config/schema/config.schema.yaml"
SAMPLES_SCHEMA = "config/schema/samples.schema.yaml"
#: config keys holding collections of named things: a user's value replaces the demo's
#: whole instead of being merged into it (see replace_named_collections)
NAMED_COLLECTIONS = (("variants",), ("merfish", "variants"))


def check_yaml_syntax(path):
    """Snakemake reports a YAML syntax error in a config file without naming the file or
    the line; parsing it first names both. (A user's --configfile is read by Snakemake
    before the workflow starts, so its errors cannot be caught here: config/README.md.)
    """
    if not Path(path).is_file():
        return  # Snakemake's configfile: says what is missing
    try:
        with open(path, encoding="utf-8") as handle:
            yaml.safe_load(handle)
    except yaml.MarkedYAMLError as error:
        mark, start = error.problem_mark, error.context_mark
        context = f" ({error.context}" if error.context else ""
        if context and start and start.line != mark.line:
            context += f" that starts on line {start.line + 1}"
        context += ")" if context else ""
        raise WorkflowError(
            f"{path} line {mark.line + 1}, column {mark.column + 1}: not valid YAML: "
            f"{error.problem}{context}"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise WorkflowError(
            f"{path}: not valid YAML: {' '.join(str(error).split())}"
        ) from None


check_yaml_syntax(DEMO_CONFIG)


configfile: DEMO_CONFIG


def given_value(source, keys):
    """(True, value) when the mapping `source` sets the nested key `keys`, else (False, None)."""
    for key in keys:
        if not isinstance(source, Mapping) or key not in source:
            return False, None
        source = source[key]
    return True, source


def replace_named_collections():
    """Snakemake merges the user's --configfile files and --config into the demo's
    config key by key, so a user file listing one variant would still run the demo's
    eight beside it. For NAMED_COLLECTIONS the value from the last of them that gives
    the key (--config last) replaces the demo's whole."""
    sources = [
        *(load_configfile(path) for path in workflow.overwrite_configfiles),
        dict(workflow.config_settings.config),
    ]
    for keys in NAMED_COLLECTIONS:
        given = [
            value for found, value in (given_value(s, keys) for s in sources) if found
        ]
        found, parent = given_value(config, keys[:-1])
        if given and found and isinstance(parent, dict):
            parent[keys[-1]] = copy.deepcopy(given[-1])


def schema_violation(data, schema):
    """The first way `data` breaks `schema` (a path relative to rules/) as (dotted key,
    message), or None; valid data gets the schema's defaults filled in."""
    try:
        validate(data, schema=schema)
    except WorkflowError as error:
        cause = error.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        detail = jsonschema.exceptions.best_match([cause])
        return ".".join(str(part) for part in detail.absolute_path), detail.message
    return None


def validate_config():
    """Schema validation (fills defaults); a failure becomes one line naming the key."""
    violation = schema_violation(config, f"../{CONFIG_SCHEMA}")
    if violation:
        key, message = violation
        raise WorkflowError(
            f"config key {key or '(top level)'}: {message} "
            f"(see config/README.md and {CONFIG_SCHEMA})"
        )


replace_named_collections()
validate_config()

DEMO = config["demo"]
DEMO_DIR = "results/demo"
SCRIPTS = f"{workflow.basedir}/scripts"  # glue scripts, found from any --directory
ORIGINAL = "original"
COMPRESSED = list(config["variants"])
SENSITIVITY = config["sensitivity"]
#: the variant the sensitivity proposer writes (rule compress_proposed), when enabled
PROPOSED = ["proposed"] if SENSITIVITY["enabled"] else []
VARIANTS = [ORIGINAL, *COMPRESSED, *PROPOSED]
ASSEMBLER = config["assembly"]["assembler"]
CALLER = config["calling"]["caller"]
EVALUATOR = config["evaluation"]["evaluator"]
RACON_ROUNDS = config["polish"]["racon_rounds"]
NANOPOLISH = config["polish"]["nanopolish"]
MEDAKA = config["polish"]["medaka"]["enabled"]
DRAFT = {"miniasm": "miniasm", "flye": "flye", "reference": "reference_guided"}[
    ASSEMBLER
]
#: one worker thread per basecall job: with one variant per core the cores stay busy,
#: where two-thread jobs left one idle beside every one-thread job (a quiet demo run took
#: 28 min with two, CPU time 1700 s); throughput, not one job's speed, is what counts here
BASECALL_THREADS = 1
#: threads of the timing step's basecalls: a user's basecall (modelshrink basecall
#: --threads 2), timed alone
TIMED_THREADS = 2
TIMING = config["timing"]
#: real R9.4.1 reads basecalled by every variant (evaluation only); fetched file name ->
#: its config entry (source, sha256); empty when real_reads.reads is empty
REAL_READS = config["real_reads"]
REAL_READ_DIR = "resources/real_reads"
TRAINING = config["training"]
#: the demo's simulated training chunks (training.simulated)
DEMO_CHUNKS = f"{DEMO_DIR}/training_chunks.hdf5"
MERFISH = config["merfish"]
MERFISH_VARIANTS = list(MERFISH["variants"]) if MERFISH["enabled"] else []
#: the merFISH dataset: the user's folder (original layout) or the simulated one
MERFISH_DATA = MERFISH["data"] or "results/merfish/data"
#: the keys of the merfish: section that modelshrink.merfish.spec parses (the others are
#: the workflow's own: enabled, data, evaluation)
MERFISH_SPEC_KEYS = ("simulation", "model", "train", "variants")

#: The sha256 of Taiyaki's pretrained R9.4.1 model; its parameter names are known
#: before conversion, so variant names/globs can be checked at startup.
PRETRAINED_SHA256 = "17fc93596096d495de19102e0b1929e11bf92482b3faa34bdc8f1d32cf7cee6f"
PRETRAINED_PARAMETERS = [
    "sublayers.0.conv.weight",
    "sublayers.0.conv.bias",
    *(
        f"sublayers.{i}.{'layer.' if i % 2 else ''}cudnn_gru.{kind}_l0"
        for i in range(1, 6)
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ),
    "sublayers.6.linear.weight",
    "sublayers.6.linear.bias",
]


def read_sheet_rows(sheet, required, optional):
    """(line number, row without its empty values) for each row of the tab-separated
    sheet, after checking that the header names every required column and no row has
    more fields than it."""
    with open(sheet, newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        columns = reader.fieldnames or []
        missing = [column for column in required if column not in columns]
        if missing:
            raise WorkflowError(
                f"{sheet} line 1: no column {', '.join(missing)}; expected a tab-separated "
                f"header with the columns {', '.join(required)} (optional: "
                f"{', '.join(optional)}), found {columns}"
            )
        rows = []
        for row in reader:
            if None in row:  # csv puts fields beyond the header's under None
                raise WorkflowError(
                    f"{sheet} line {reader.line_num}: {len(columns) + len(row[None])} "
                    f"tab-separated fields, more than the header's {len(columns)}"
                )
            rows.append((reader.line_num, {k: v for k, v in row.items() if v}))
        return rows


def sheet_row_problem(row, required):
    """What is wrong with one sheet row's values (empty ones dropped), or None."""
    empty = [column for column in required if column not in row]
    if empty:
        return f"no value in column {', '.join(empty)}"
    violation = schema_violation(row, f"../{SAMPLES_SCHEMA}")
    if violation:
        column, message = violation
        return f"column {column}: {message}"
    return None


def read_sample_sheet():
    """Samples from the sheet, plus the simulated demo sample when enabled; every
    mistake in the sheet is one line naming its line and column."""
    samples = {}
    sheet = config["samples"]
    if sheet:
        if not Path(sheet).is_file():
            raise WorkflowError(
                f"config key samples: sample sheet {sheet} does not exist"
            )
        from modelshrink.errors import ModelshrinkError
        from modelshrink.input_checks import check_sample_files

        schema = yaml.safe_load(Path(workflow.basedir, SAMPLES_SCHEMA).read_text())
        required = schema["required"]
        optional = [column for column in schema["properties"] if column not in required]
        lines = {}
        for number, row in read_sheet_rows(sheet, required, optional):
            problem = sheet_row_problem(row, required)
            if problem:
                raise WorkflowError(f"{sheet} line {number}: {problem}")
            name = row["sample"]
            if name in lines:
                raise WorkflowError(
                    f"{sheet} line {number}: sample {name!r} is already on line "
                    f"{lines[name]}; expected one row per sample"
                )
            lines[name] = number
            try:
                check_sample_files(row)
            except ModelshrinkError as error:
                raise WorkflowError(
                    f"{sheet} line {number}: sample {name!r}: {error}"
                ) from None
            samples[name] = {
                "reads": row["reads"],
                "reference": row["reference"],
                "truth_vcf": row.get("truth_vcf"),
            }
    if DEMO["enabled"]:
        if DEMO["sample"] in samples:
            raise WorkflowError(
                f"sample name {DEMO['sample']!r} is used by the demo; rename it in {sheet}"
            )
        samples[DEMO["sample"]] = {
            "reads": f"{DEMO_DIR}/reads.fast5",
            "reference": f"{DEMO_DIR}/reference.fasta",
            "truth_vcf": f"{DEMO_DIR}/truth.vcf.gz",
        }
    if not samples:
        raise WorkflowError(
            "no samples: set `samples:` to a sample sheet or enable `demo.enabled`"
        )
    return samples


def stored_parameter_names(path):
    """Parameter names from a modelshrink .safetensors header (no torch needed)."""
    with open(path, "rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
    encodings = json.loads(header.get("__metadata__", {}).get("encodings", "{}"))
    return list(encodings) or [key for key in header if key != "__metadata__"]


def known_parameter_names():
    """The model's parameter names when they can be known before any job runs."""
    converted = Path(f"results/models/{ORIGINAL}.safetensors")
    if converted.is_file():
        try:
            return stored_parameter_names(converted)
        except (OSError, ValueError, struct.error):
            pass  # unreadable: compress_model will say why
    if config["model"]["sha256"].lower() == PRETRAINED_SHA256:
        return PRETRAINED_PARAMETERS
    return None


def variant_base(variant):
    """The variant a variant is compressed from (`base`; the converted original by default)."""
    return config["variants"][variant].get("base", ORIGINAL)


def compression_spec(variant):
    """What `modelshrink compress` applies: the variant's entry without `base`."""
    return {k: v for k, v in config["variants"][variant].items() if k != "base"}


def mapped_signal_files():
    """The mapped-signal files as the workflow reads them: a local path in place, a
    {source, sha256} entry fetched into resources/training/ (rule training_fetch)."""
    return [
        (
            entry
            if isinstance(entry, str)
            else f"resources/training/mapped_signal_{index}.hdf5"
        )
        for index, entry in enumerate(TRAINING["mapped_signal"])
    ]


def labelled_training_data():
    """Sources with bases: mapped-signal files, and the demo's chunks when asked for."""
    return mapped_signal_files() + [DEMO_CHUNKS] * TRAINING["simulated"]


def check_variant_bases():
    """Each `base` names another variant (or original), without cycles, and is not
    quantized: the order is always prune -> fine-tune -> quantize, once."""
    for name in COMPRESSED:
        base = variant_base(name)
        if "quantize" in config["variants"].get(base, {}):
            raise WorkflowError(
                f"config key variants.{name}.base: {base!r} is quantized; a variant can "
                f"only build on an unquantized one (prune -> fine-tune -> quantize)"
            )
        chain = [name]
        while (base := variant_base(chain[-1])) != ORIGINAL:
            if base not in config["variants"]:
                raise WorkflowError(
                    f"config key variants.{chain[-1]}.base: {base!r} is not a variant; "
                    f"expected one of {[ORIGINAL, *COMPRESSED]}"
                )
            if base in chain:
                raise WorkflowError(
                    f"config key variants.{name}.base: the bases form a cycle "
                    f"{' -> '.join([*chain, base])}"
                )
            chain.append(base)


def check_variants():
    """Every variant spec parsed by the compression toolbox itself (parameter names,
    sparsities, schemes), so config mistakes surface now, not in compress_model."""
    check_variant_bases()
    try:
        from modelshrink.compress.spec import parse_variants
        from modelshrink.errors import ModelshrinkError
    except ImportError:  # conda-only setup: compress_model checks the spec itself
        return
    try:
        specs = parse_variants(
            {name: compression_spec(name) for name in COMPRESSED},
            known_parameter_names(),
        )
    except ModelshrinkError as error:
        raise WorkflowError(f"config: {error}") from None
    check_training(specs)


def check_training(specs):
    """Every trained variant has data it can learn from: labels for the crf and mixed
    objectives (raw reads have none), chunks of the demo's length when it tunes on the
    demo's simulated chunks; local paths exist; no training reads are evaluated."""
    trained = [name for name, spec in specs.items() if spec.needs_training]
    labelled = [name for name, spec in specs.items() if spec.needs_labels]
    if trained and not (labelled_training_data() or TRAINING["reads"]):
        raise WorkflowError(
            f"config: variants {trained} fine-tune or calibrate OBS pruning but there "
            f"is no training data: list Taiyaki mapped-signal files in "
            f"training.mapped_signal, fast5/pod5 reads in training.reads, or set "
            f"training.simulated: true (the demo's simulated chunks)"
        )
    if labelled and not labelled_training_data():
        raise WorkflowError(
            f"config: variants {labelled} train on labels (finetune.objective crf or "
            f"mixed), but training.reads are raw reads without them; list Taiyaki "
            f"mapped-signal files in training.mapped_signal or use objective: distill"
        )
    if TRAINING["simulated"]:
        if not DEMO["enabled"]:
            raise WorkflowError(
                "config key training.simulated: the simulated chunks come from the demo; "
                "enable demo or set training.simulated: false"
            )
        chunk = config["simulate"]["reads"].get("chunk_samples", 4000)
        finetuned = [n for n, spec in specs.items() if spec.finetune is not None]
        wrong = [n for n in finetuned if specs[n].finetune.chunk_length != chunk]
        if wrong:
            raise WorkflowError(
                f"config: variants {wrong}: finetune.chunk_length must equal "
                f"simulate.reads.chunk_samples ({chunk}), the length of the demo's "
                f"training chunks (training.simulated)"
            )


def check_training_paths():
    """Local training paths exist, and a model is not judged on reads it was tuned on:
    no training.reads path may be, hold or lie in a sample's reads (the read ids inside
    mapped-signal files are not compared; the demo's are not among Taiyaki's five test
    reads, tests/test_training_sources.py checks)."""
    local = [entry for entry in TRAINING["mapped_signal"] if isinstance(entry, str)]
    for key, paths in (("mapped_signal", local), ("reads", TRAINING["reads"])):
        for path in paths:
            if not Path(path).exists():
                raise WorkflowError(f"config key training.{key}: {path} does not exist")
    for path in TRAINING["reads"]:
        trained = Path(path).resolve()
        for sample, row in SAMPLES.items():
            evaluated = Path(row["reads"]).resolve()
            if trained == evaluated or evaluated in trained.parents:
                clash = "lies in"
            elif trained in evaluated.parents:
                clash = "holds"
            else:
                continue
            raise WorkflowError(
                f"config key training.reads: {path} {clash} the reads of sample "
                f"{sample!r} ({row['reads']}); evaluate on reads not used for tuning"
            )


def check_simulation():
    """The demo's simulate: settings, checked by the simulator's own specs."""
    if not DEMO["enabled"]:
        return
    try:
        from modelshrink.errors import ModelshrinkError
        from modelshrink.simulate import specs
    except ImportError:  # conda-only setup: the simulate rules check it themselves
        return
    kinds = {
        "genome": specs.GenomeSpec,
        "variants": specs.VariantSpec,
        "reads": specs.ReadSpec,
    }
    for section, kind in kinds.items():
        try:
            specs.spec_from_mapping(
                kind, config["simulate"][section], f"simulate.{section}"
            )
        except ModelshrinkError as error:
            raise WorkflowError(f"config: {error}") from None


def check_merfish():
    """The merfish: section parsed by the family's own spec parser, and the user's dataset
    folder checked for its three splits, so mistakes surface now, not in merfish_train.
    Reading every image (missing rounds, sizes, barcodes) is merfish_train's first step.
    """
    if not MERFISH["enabled"]:
        return
    if not MERFISH["variants"]:
        raise WorkflowError(
            "config key merfish.variants: no variants; add at least one, "
            "e.g. float32: {method: float32}"
        )
    if MERFISH["data"]:
        missing = [
            s for s in ("train", "val", "test") if not Path(MERFISH["data"], s).is_dir()
        ]
        if missing:
            raise WorkflowError(
                f"config key merfish.data: {MERFISH['data']} lacks the split folder(s) "
                f"{', '.join(missing)}; expected the original layout "
                "({train,val,test}/1/647nm, Raw/..., {split}/groundtruths/) or an empty "
                "value to simulate tiles"
            )
    try:
        from modelshrink.errors import ModelshrinkError
        from modelshrink.merfish.spec import MerfishConfig
    except ImportError:  # conda-only setup: the merfish rules check it themselves
        return
    try:
        MerfishConfig.from_mapping({key: MERFISH[key] for key in MERFISH_SPEC_KEYS})
    except ModelshrinkError as error:
        raise WorkflowError(f"config: {error}") from None


def check_sensitivity():
    """The scan measures damage on real labelled chunks and on a sample's reads."""
    if not SENSITIVITY["enabled"]:
        return
    if PROPOSED[0] in config["variants"]:
        raise WorkflowError(
            f"config key variants.{PROPOSED[0]}: the name is the sensitivity proposer's "
            f"(sensitivity.enabled); rename the variant or set sensitivity.enabled: false"
        )
    if not TRAINING["mapped_signal"]:
        raise WorkflowError(
            "config key sensitivity.enabled: the scan measures damage on real labelled "
            "chunks; give training.mapped_signal or set sensitivity.enabled: false"
        )


def check_choices():
    """Combinations the schema cannot express."""
    basecall = config["basecall"]
    if basecall["overlap"] >= basecall["chunk_size"]:
        raise WorkflowError(
            f"config key basecall.overlap: {basecall['overlap']} must be smaller than "
            f"basecall.chunk_size ({basecall['chunk_size']}); both count network steps"
        )
    if NANOPOLISH or CALLER == "nanopolish":
        pod5 = [s for s, row in SAMPLES.items() if str(row["reads"]).endswith(".pod5")]
        if pod5:
            raise WorkflowError(
                f"nanopolish reads fast5 only; samples {pod5} have pod5 reads: set "
                f"polish.nanopolish: false and a calling.caller other than nanopolish"
            )


# --- downloads, Clair3 model, confident regions (issue 16) ------------------------


# Downloads run on the submitting host, which has network where cluster nodes may not,
# before the jobs that need them; offline, each fails with one message naming the file
# to place and where (config/README.md, "offline").
localrules:
    model_fetch,
    training_fetch,
    real_reads_fetch,
    real_reference_fetch,
    pore_model_fetch,
    clair3_model,


#: the R9.4.1 k-mer model of the demo's simulator (fetched by rule pore_model_fetch)
PORE_MODEL = "resources/pore_models/dna_r9.4.1_400bps_6mer.npz"
#: the two files of a Clair3 2.x (PyTorch) model folder
CLAIR3_MODEL_FILES = ("pileup.pt", "full_alignment.pt")
#: where rule clair3_model puts the model shipped with the clair3 env
CLAIR3_MODEL_DIR = "resources/clair3_models"


def clair3_model_folder():
    """The model folder clair3_call reads: the user's calling.clair3.model_path, else the
    shipped model calling.clair3.model copied out of the clair3 env by clair3_model."""
    settings = config["calling"]["clair3"]
    return settings["model_path"] or f"{CLAIR3_MODEL_DIR}/{settings['model']}"


def check_clair3_model():
    """A user's Clair3 model folder exists and holds a 2.x (PyTorch) model, so a wrong
    path stops the run now instead of failing clair3_call at the end of a long run."""
    folder = config["calling"]["clair3"]["model_path"]
    if CALLER != "clair3" or not folder:
        return
    key = "config key calling.clair3.model_path"
    if not Path(folder).is_dir():
        raise WorkflowError(f"{key}: {folder} is not a folder")
    missing = [name for name in CLAIR3_MODEL_FILES if not Path(folder, name).is_file()]
    if missing:
        tensorflow = " (it looks like a Clair3 1.x TensorFlow model)" * any(
            Path(folder).glob("pileup.index")
        )
        raise WorkflowError(
            f"{key}: {folder} lacks {', '.join(missing)}{tensorflow}; Clair3 2.x needs "
            f"a PyTorch model folder with {' and '.join(CLAIR3_MODEL_FILES)} "
            "(https://www.bio8.cs.hku.hk/clair3/clair3_models_pytorch/)"
        )


def get_clair3_model_files(wildcards):
    return [f"{clair3_model_folder()}/{name}" for name in CLAIR3_MODEL_FILES]


def get_clair3_model_folder(wildcards):
    return clair3_model_folder()


def check_confident_regions():
    path = config["evaluation"]["confident_regions"]
    if path and not Path(path).is_file():
        raise WorkflowError(
            f"config key evaluation.confident_regions: {path} does not exist "
            "(expected a BED file of the regions where the truth VCF is complete)"
        )


def get_confident_regions(wildcards):
    """The confident-regions BED as an input (none when evaluation.confident_regions is empty)."""
    path = config["evaluation"]["confident_regions"]
    return [path] if path else []


def get_confident_regions_option(wildcards, input):
    """`-f BED` for both evaluators (modelshrink evaluate and hap.py share the flag)."""
    return f"-f {shlex.quote(input.regions[0])}" if input.regions else ""


def real_read_files():
    """Fetched file name -> config entry of every real read file; names come from the
    sources' last path component and must be distinct fast5/pod5 names."""
    files = {}
    for number, entry in enumerate(REAL_READS["reads"]):
        name = Path(urlparse(entry["source"]).path).name
        key = f"real_reads.reads[{number}].source"
        if Path(name).suffix not in (".fast5", ".pod5"):
            raise WorkflowError(
                f"config key {key}: {entry['source']} does not end in .fast5 or .pod5"
            )
        if name in files:
            raise WorkflowError(
                f"config key {key}: a second file named {name}; real read files need "
                "distinct names"
            )
        files[name] = entry
    if files and not REAL_READS.get("reference"):
        raise WorkflowError(
            "config key real_reads.reference: real reads need a reference "
            "({source: URL or path, sha256: ...})"
        )
    return files


#: tool -> (conda env of this workflow, how to get it without conda)
TOOL_SOURCES = {
    "modelshrink": ("envs/modelshrink.yaml", "./install.sh (virtualenv .venv)"),
    "minimap2": ("envs/minimap2.yaml", "apt-get install minimap2"),
    "samtools": ("envs/samtools.yaml", "apt-get install samtools"),
    "bcftools": ("envs/samtools.yaml", "apt-get install bcftools"),
    "bgzip": ("envs/samtools.yaml", "apt-get install tabix"),
    "tabix": ("envs/samtools.yaml", "apt-get install tabix"),
    "miniasm": ("envs/miniasm.yaml", "apt-get install miniasm"),
    "racon": ("envs/racon.yaml", "apt-get install racon"),
    "flye": (
        "envs/flye.yaml",
        "./install.sh (Debian's flye + a working launcher in .venv/bin; config/README.md)",
    ),
    "nanopolish": ("envs/nanopolish.yaml", "apt-get install nanopolish"),
    "freebayes": ("envs/freebayes.yaml", "apt-get install freebayes"),
    "medaka_consensus": ("envs/medaka.yaml", "pip install medaka"),
    "run_clair3.sh": ("envs/clair3.yaml", "conda only (bioconda clair3)"),
    "hap.py": ("envs/happy.yaml", "conda only (bioconda hap.py)"),
}


def required_tools():
    """The command-line tools this configuration's rules call."""
    tools = ["modelshrink", "minimap2", "samtools", "bcftools", "bgzip", "tabix"]
    tools += {
        "miniasm": ["miniasm", "racon"],
        "flye": ["flye"],
        "reference": ["racon"],
    }[ASSEMBLER]
    tools += ["racon"] * (RACON_ROUNDS > 0) + ["nanopolish"] * NANOPOLISH
    tools += ["medaka_consensus"] * MEDAKA
    tools += {
        "modelshrink": [],
        "bcftools": [],
        "freebayes": ["freebayes"],
        "nanopolish": ["nanopolish"],
        "clair3": ["run_clair3.sh"],
    }[CALLER]
    tools += ["hap.py"] * (EVALUATOR == "happy")
    return list(dict.fromkeys(tools))


def check_tools():
    """Without --sdm conda every tool must be on PATH; name each missing one and where
    to get it. Called on start of a real run (not dry runs, so plans can be inspected
    anywhere)."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return
    missing = [tool for tool in required_tools() if shutil.which(tool) is None]
    if not missing:
        return
    lines = [
        f"  {tool}: run with --sdm conda ({TOOL_SOURCES[tool][0]}) or {TOOL_SOURCES[tool][1]}"
        for tool in missing
    ]
    raise WorkflowError("missing tools on PATH:\n" + "\n".join(lines))


def add_interpreter_bin_to_path():
    """`.venv/bin/snakemake` without an activated venv: the modelshrink CLI sits beside
    the interpreter running Snakemake, so that folder joins PATH for the jobs."""
    folder = Path(sys.executable).parent
    if shutil.which("modelshrink") is None and (folder / "modelshrink").exists():
        os.environ.update(PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


add_interpreter_bin_to_path()
# envs/modelshrink.post-deploy.sh installs the package from here
os.environ.update(MODELSHRINK_WORKFLOW_DIR=workflow.basedir)
SAMPLES = read_sample_sheet()
REAL_READ_FILES = real_read_files()
check_simulation()
check_training_paths()
check_variants()
check_choices()
check_merfish()
check_clair3_model()
check_confident_regions()
check_sensitivity()


onstart:
    check_tools()


wildcard_constraints:
    sample="|".join(SAMPLES),
    variant="|".join(VARIANTS),
    merfish_variant="|".join(MERFISH_VARIANTS) or "(?!)",
    real_read="|".join(map(re.escape, REAL_READ_FILES)) or "(?!)",
    index=r"\d+",
    caller="modelshrink|bcftools|freebayes|nanopolish|clair3",
    round=r"\d+",


# --- input functions --------------------------------------------------------------


def get_reads(wildcards):
    return SAMPLES[wildcards.sample]["reads"]


def get_reference(wildcards):
    return SAMPLES[wildcards.sample]["reference"]


def get_truth_vcf(wildcards):
    return SAMPLES[wildcards.sample]["truth_vcf"]


def get_model(wildcards):
    return f"results/models/{wildcards.variant}.safetensors"


def get_basecall_gpus(wildcards):
    """One GPU for basecalling when basecall.device is cuda, none otherwise."""
    return 1 if config["basecall"]["device"] == "cuda" else 0


def get_timing_models(wildcards):
    """Every variant's model, the original first (the baseline of the speed ratios)."""
    return [f"results/models/{variant}.safetensors" for variant in VARIANTS]


def get_timing_model_arguments(wildcards, input):
    """`NAME=MODEL ...` for `modelshrink timing`, in VARIANTS order."""
    return " ".join(
        shlex.quote(f"{variant}={path}")
        for variant, path in zip(VARIANTS, input.models, strict=True)
    )


def get_timing_threads(wildcards):
    """Every core of a local run: the scheduler starts no other job beside one that holds
    all cores, so the models are timed alone. A cluster run has no --cores: there the
    job asks for the timed threads and the profile holds its node exclusively."""
    return workflow.resource_settings.cores or TIMED_THREADS


def get_timing_basecall_threads(wildcards, threads):
    """Worker threads while timing (never more than the job's)."""
    return min(TIMED_THREADS, threads)


def get_real_read_files(wildcards):
    return [f"{REAL_READ_DIR}/{name}" for name in REAL_READ_FILES]


def get_real_read_source(wildcards):
    return REAL_READ_FILES[wildcards.real_read]["source"]


def get_real_read_sha256(wildcards):
    return REAL_READ_FILES[wildcards.real_read]["sha256"]


def get_real_reference_source(wildcards):
    return REAL_READS["reference"]["source"]


def get_real_reference_sha256(wildcards):
    return REAL_READS["reference"]["sha256"]


def real_read_identity_table(variant):
    """The variant's per-read identity on the real reads (None: no real reads)."""
    if not REAL_READ_FILES:
        return None
    return f"results/real_reads/identity/{variant}.tsv"


def get_variant_spec(wildcards):
    """The variant's spec as canonical JSON; as a params: value it makes Snakemake
    rerun exactly the variants whose spec changed (the params rerun trigger)."""
    return json.dumps(compression_spec(wildcards.variant), sort_keys=True)


def get_compress_source(wildcards):
    """The model a variant is compressed from: its `base` variant's file, by default
    the converted original (so a fine-tuned variant can be stored a second way
    without fine-tuning again)."""
    return f"results/models/{variant_base(wildcards.variant)}.safetensors"


def fetched_mapped_signal(wildcards):
    """The {source, sha256} entry of training.mapped_signal that a fetch job brings in."""
    entry = TRAINING["mapped_signal"][int(wildcards.index)]
    if isinstance(entry, str):
        raise WorkflowError(
            f"training.mapped_signal entry {wildcards.index} is the local path {entry}, "
            f"used in place; nothing to fetch"
        )
    return entry


def get_mapped_signal_source(wildcards):
    return fetched_mapped_signal(wildcards)["source"]


def get_mapped_signal_sha256(wildcards):
    return fetched_mapped_signal(wildcards)["sha256"]


def get_training_data(wildcards):
    """Training data, only for variants that fine-tune or calibrate OBS pruning on it
    (others need no input): the labelled sources, plus training.reads for the
    objectives that need no labels (distill, OBS calibration)."""
    spec = config["variants"][wildcards.variant]
    finetune = spec.get("finetune")
    if finetune is None and (spec.get("prune") or {}).get("method") != "obs":
        return []
    if finetune is not None and finetune.get("objective", "crf") != "distill":
        return labelled_training_data()
    return labelled_training_data() + TRAINING["reads"]


def get_training_option(wildcards, input):
    """`--training FILE ...` for variants that use training chunks, nothing for the others."""
    if not input.training:
        return ""
    return "--training " + " ".join(shlex.quote(path) for path in input.training)


def get_simulate_settings(wildcards):
    """The simulate: section as a config file body (JSON is YAML); as params it reruns
    the demo simulation when its settings change."""
    return json.dumps({"simulate": config["simulate"]}, sort_keys=True)


def get_draft_assembly(wildcards):
    """The configured assembler's draft (assembly.assembler)."""
    return f"results/assembly/{wildcards.variant}/{wildcards.sample}/{DRAFT}.fasta"


def get_flye_options(wildcards):
    """--genome-size and --extra-params when set (flye estimates / uses its defaults)."""
    settings = config["assembly"]["flye"]
    options = []
    if settings["genome_size"]:
        options.append(f"--genome-size {shlex.quote(settings['genome_size'])}")
    if settings["extra_params"]:
        options.append(f"--extra-params {shlex.quote(settings['extra_params'])}")
    return " ".join(options)


def get_pass_only_flag(wildcards):
    return "--pass-only" if config["evaluation"]["pass_only"] else ""


def get_racon_backbone(wildcards):
    """Round 1 polishes the draft, round n the result of round n-1."""
    number = int(wildcards.round)
    if number == 1:
        return get_draft_assembly(wildcards)
    return f"results/polish/{wildcards.variant}/{wildcards.sample}/racon_{number - 1}.fasta"


def get_racon_output(wildcards):
    """The assembly after all racon rounds (the draft when there are none)."""
    if RACON_ROUNDS == 0:
        return get_draft_assembly(wildcards)
    return f"results/polish/{wildcards.variant}/{wildcards.sample}/racon_{RACON_ROUNDS}.fasta"


def get_medaka_input(wildcards):
    """medaka follows nanopolish when both run."""
    if NANOPOLISH:
        return f"results/polish/{wildcards.variant}/{wildcards.sample}/nanopolish.fasta"
    return get_racon_output(wildcards)


def assembly_stages():
    """Stage name -> assembly path pattern, in order; identity is measured after each."""
    folder = "results/polish/{variant}/{sample}"
    stages = {"draft": f"results/assembly/{{variant}}/{{sample}}/{DRAFT}.fasta"}
    if RACON_ROUNDS:
        stages["racon"] = f"{folder}/racon_{RACON_ROUNDS}.fasta"
    if NANOPOLISH:
        stages["nanopolish"] = f"{folder}/nanopolish.fasta"
    if MEDAKA:
        stages["medaka"] = f"{folder}/medaka.fasta"
    return stages


def get_stage_assembly(wildcards):
    return assembly_stages()[wildcards.stage].format(**wildcards)


def get_nanopolish_polish_input(wildcards):
    return get_racon_output(wildcards)


def get_modelshrink_call_options(wildcards):
    """The modelshrink caller's thresholds (calling.modelshrink) as command-line options."""
    return " ".join(
        f"--{key.replace('_', '-')} {value}"
        for key, value in sorted(config["calling"]["modelshrink"].items())
    )


def get_raw_calls(wildcards):
    return f"results/calls/{wildcards.variant}/{wildcards.sample}.{CALLER}.raw.vcf.gz"


def evaluation_prefix(variant, sample):
    return f"results/evaluation/{variant}/{sample}.{CALLER}.{EVALUATOR}"


def get_happy_truth(wildcards):
    return f"results/evaluation/truth/{wildcards.sample}.diploid.vcf.gz"


def summary_rows():
    """For each variant x sample, the files whose numbers become one summary row."""
    polished = list(assembly_stages())[-1]
    rows = []
    for variant in VARIANTS:
        for sample, row in SAMPLES.items():
            identity = f"results/assembly_identity/{variant}/{sample}"
            truth = row["truth_vcf"]
            rows.append(
                {
                    "variant": variant,
                    "sample": sample,
                    "stats": f"results/models/{variant}.stats.json",
                    "compress_report": (
                        f"results/models/{variant}.report.json"
                        if variant != ORIGINAL
                        else None
                    ),
                    "speed": f"results/basecalls/{variant}/{sample}.speed.tsv",
                    "timing": f"results/timing/{sample}.tsv",
                    "read_identity": f"results/identity/{variant}/{sample}.summary.tsv",
                    "read_identity_table": f"results/identity/{variant}/{sample}.tsv",
                    "real_read_identity_table": real_read_identity_table(variant),
                    "assembly_draft": f"{identity}/draft.summary.tsv",
                    "assembly_polished": f"{identity}/{polished}.summary.tsv",
                    "assembly_polished_pieces": f"{identity}/{polished}.tsv",
                    "racon": (
                        f"results/polish/{variant}/{sample}/racon_{RACON_ROUNDS}.fasta"
                        if RACON_ROUNDS
                        else None
                    ),
                    "calling_usage": f"results/calls/{variant}/{sample}.usage.tsv",
                    "evaluation": (
                        f"{evaluation_prefix(variant, sample)}.summary.csv"
                        if truth
                        else None
                    ),
                }
            )
    return rows


def get_summary_inputs(wildcards):
    """Every file named in the manifest (the rule's real inputs)."""
    names = (
        "stats",
        "speed",
        "timing",
        "read_identity",
        "read_identity_table",
        "real_read_identity_table",
        "assembly_draft",
        "assembly_polished",
        "assembly_polished_pieces",
        "evaluation",
        "compress_report",
        "racon",
        "calling_usage",
    )
    paths = [row[key] for row in summary_rows() for key in names]
    return sorted({path for path in paths if path})


def get_summary_manifest(wildcards):
    return json.dumps(summary_rows())


def get_read_identity_tables(wildcards):
    """Per-read identity tables of every row, and of the real reads when measured."""
    tables = [
        row[key]
        for row in summary_rows()
        for key in ("read_identity_table", "real_read_identity_table")
    ]
    return list(dict.fromkeys(table for table in tables if table))


def merfish_settings(**sections):
    """`--param KEY=VALUE` options of `modelshrink merfish` for whole config sections.

    Values are YAML flow mappings (the CLI parses them with yaml.safe_load): JSON would
    write 1e-05, which YAML 1.1 reads as a string. As params: they make Snakemake rerun a
    job exactly when its own settings change.
    """
    options = []
    for key, value in sections.items():
        text = yaml.safe_dump(
            value, default_flow_style=True, sort_keys=True, width=1 << 20
        )
        options.append(f"--param {shlex.quote(f'{key}={text.strip()}')}")
    return " ".join(options)


def get_merfish_simulation_settings(wildcards):
    return merfish_settings(simulation=MERFISH["simulation"])


def get_merfish_train_settings(wildcards):
    return merfish_settings(model=MERFISH["model"], train=MERFISH["train"])


def get_merfish_variant_settings(wildcards):
    """Only this variant's spec (and the training settings fine-tuning reuses): editing
    one variant reruns that variant alone."""
    name = wildcards.merfish_variant
    return merfish_settings(
        train=MERFISH["train"], variants={name: MERFISH["variants"][name]}
    )


def get_merfish_data(wildcards):
    return MERFISH_DATA


def get_merfish_evaluation(wildcards):
    return MERFISH["evaluation"]


def merfish_manifest():
    """Per merFISH variant, its method and the two JSON files its summary row joins."""
    return [
        {
            "variant": name,
            "method": MERFISH["variants"][name]["method"],
            "compress": f"results/merfish/variants/{name}.json",
            "evaluation": f"results/merfish/evaluation/{name}.json",
        }
        for name in MERFISH_VARIANTS
    ]


def get_merfish_manifest(wildcards):
    return json.dumps(merfish_manifest())


def get_merfish_summary_inputs(wildcards):
    return [
        entry[key] for entry in merfish_manifest() for key in ("compress", "evaluation")
    ]


def get_merfish_curves(wildcards):
    return [
        f"results/merfish/evaluation/{name}.curves.tsv" for name in MERFISH_VARIANTS
    ]


def get_merfish_output():
    """The merFISH branch's targets (none when merfish.enabled is false)."""
    if not MERFISH["enabled"]:
        return []
    return [
        "results/merfish/summary.tsv",
        "results/merfish/plots/size_vs_accuracy.svg",
        "results/merfish/plots/speed.svg",
        "results/merfish/plots/curves.png",
        *(f"results/merfish/maps/{name}.png" for name in MERFISH_VARIANTS),
    ]


def stage_identity_outputs():
    """Assembly identity after every polishing stage (the summary shows the first and
    last); each stage's own number shows what it added."""
    return [
        f"results/assembly_identity/{variant}/{sample}/{stage}.summary.tsv"
        for variant in VARIANTS
        for sample in SAMPLES
        for stage in assembly_stages()
    ]


def sensitivity_sample():
    """The sample whose first reads the scan and the proposer basecall (the first one)."""
    return next(iter(SAMPLES))


def get_sensitivity_inputs(wildcards):
    sample = sensitivity_sample()
    return {
        "model": f"results/models/{ORIGINAL}.safetensors",
        "chunks": mapped_signal_files(),
        "reads": SAMPLES[sample]["reads"],
        "reference": f"results/reference/{sample}.fasta",
    }


def get_sensitivity_grid(wildcards):
    """`--sparsities ... --bits ...` of the scans."""
    return " ".join(
        [
            "--sparsities",
            *map(str, SENSITIVITY["sparsities"]),
            "--bits",
            *map(str, SENSITIVITY["bits"]),
        ]
    )


def get_sensitivity_output():
    """The scans' tables and heatmaps (merFISH's when that branch runs)."""
    if not SENSITIVITY["enabled"]:
        return []
    outputs = ["results/sensitivity/basecaller.tsv", "results/plots/sensitivity.svg"]
    if MERFISH["enabled"]:
        outputs += [
            "results/merfish/sensitivity.tsv",
            "results/merfish/plots/sensitivity.svg",
        ]
    return outputs


def get_final_output():
    return [
        *get_sensitivity_output(),
        "results/summary.tsv",
        *stage_identity_outputs(),
        "results/plots/read_identity.svg",
        "results/plots/size_vs_accuracy.svg",
        "results/plots/identity_change.svg",
        "results/plots/f1.svg",
        *get_merfish_output(),
    ]
