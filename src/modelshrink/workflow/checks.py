"""The workflow's startup checks: one entry point, `check_workflow`, called by rules/common.smk.

Why everything is checked here: a typo in a variant or a missing tool must stop the run at
startup with one clear message, not an hour later inside a cluster job. Each section is
parsed by the code that uses it (the variant specs by the basecaller's compression, the
merfish: section by the merFISH family, simulate: by the simulator), so the checks are
exactly what the jobs will accept.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelshrink.basecaller.compress.layout import PRETRAINED_SHA256, TAIYAKI_PARAMETER_NAMES
from modelshrink.basecaller.compress.spec import ORIGINAL, VariantSpec, parse_variants
from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.spec import MerfishConfig
from modelshrink.simulate import specs as simulate_specs
from modelshrink.toolbox.safetensors_layout import stored_tensor_names
from modelshrink.workflow.plan import CLAIR3_MODEL_FILES, MERFISH_SPEC_KEYS, WorkflowPlan

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


def check_workflow(plan: WorkflowPlan) -> None:
    """Every check of a schema-valid config and its samples; raises ModelshrinkError
    naming the config key (or file and line) and what was expected."""
    check_simulation(plan.config)
    check_training_paths(plan)
    specs = check_variants(plan)
    check_training(plan, specs)
    check_choices(plan)
    check_merfish(plan.config["merfish"])
    check_clair3_model(plan)
    check_confident_regions(plan.config)
    check_sensitivity(plan)


def known_parameter_names(config: Mapping[str, Any]) -> list[str] | None:
    """The model's parameter names when they can be known before any job runs."""
    converted = Path(f"results/models/{ORIGINAL}.safetensors")
    if converted.is_file():
        try:
            return stored_tensor_names(converted)
        except ModelshrinkError:
            pass  # unreadable: compress_model will say why
    if config["model"]["sha256"].lower() == PRETRAINED_SHA256:
        return list(TAIYAKI_PARAMETER_NAMES)
    return None


def check_variant_bases(plan: WorkflowPlan) -> None:
    """Each `base` names another variant (or original), without cycles, and is not
    quantized: the order is always prune -> fine-tune -> quantize, once."""
    variants = plan.config["variants"]
    for name in plan.compressed:
        base = plan.variant_base(name)
        if "quantize" in variants.get(base, {}):
            raise ModelshrinkError(
                f"config key variants.{name}.base: {base!r} is quantized; a variant can "
                f"only build on an unquantized one (prune -> fine-tune -> quantize)"
            )
        chain = [name]
        while (base := plan.variant_base(chain[-1])) != ORIGINAL:
            if base not in variants:
                raise ModelshrinkError(
                    f"config key variants.{chain[-1]}.base: {base!r} is not a variant; "
                    f"expected one of {plan.variants}"
                )
            if base in chain:
                raise ModelshrinkError(
                    f"config key variants.{name}.base: the bases form a cycle "
                    f"{' -> '.join([*chain, base])}"
                )
            chain.append(base)


def check_variants(plan: WorkflowPlan) -> dict[str, VariantSpec]:
    """Every variant spec parsed by the compression code itself (parameter names,
    sparsities, schemes), so config mistakes surface now, not in compress_model."""
    check_variant_bases(plan)
    try:
        return parse_variants(
            {name: plan.compression_spec(name) for name in plan.compressed},
            known_parameter_names(plan.config),
        )
    except ModelshrinkError as error:
        raise ModelshrinkError(f"config: {error}") from None


def check_training(plan: WorkflowPlan, specs: Mapping[str, VariantSpec]) -> None:
    """Every trained variant has data it can learn from: labels for the crf and mixed
    objectives (raw reads have none), chunks of the demo's length when it tunes on the
    demo's simulated chunks."""
    training = plan.config["training"]
    labelled_data = plan.labelled_training_data()
    trained = [name for name, spec in specs.items() if spec.needs_training]
    labelled = [name for name, spec in specs.items() if spec.needs_labels]
    if trained and not (labelled_data or training["reads"]):
        raise ModelshrinkError(
            f"config: variants {trained} fine-tune or calibrate OBS pruning or GPTQ but there "
            f"is no training data: list Taiyaki mapped-signal files in "
            f"training.mapped_signal, fast5/pod5 reads in training.reads, or set "
            f"training.simulated: true (the demo's simulated chunks)"
        )
    if labelled and not labelled_data:
        raise ModelshrinkError(
            f"config: variants {labelled} train on labels (finetune.objective crf or "
            f"mixed), but training.reads are raw reads without them; list Taiyaki "
            f"mapped-signal files in training.mapped_signal or use objective: distill"
        )
    if training["simulated"]:
        if not plan.config["demo"]["enabled"]:
            raise ModelshrinkError(
                "config key training.simulated: the simulated chunks come from the demo; "
                "enable demo or set training.simulated: false"
            )
        reads = simulate_specs.spec_from_mapping(
            simulate_specs.ReadSpec, plan.config["simulate"]["reads"], "simulate.reads"
        )
        chunk = reads.chunk_samples
        finetuned = [n for n, spec in specs.items() if spec.finetune is not None]
        wrong = [n for n in finetuned if specs[n].finetune.chunk_length != chunk]
        if wrong:
            raise ModelshrinkError(
                f"config: variants {wrong}: finetune.chunk_length must equal "
                f"simulate.reads.chunk_samples ({chunk}), the length of the demo's "
                f"training chunks (training.simulated)"
            )


def check_training_paths(plan: WorkflowPlan) -> None:
    """Local training paths exist, and a model is not judged on reads it was tuned on:
    no training.reads path may be, hold or lie in a sample's reads (the read ids inside
    mapped-signal files are not compared; the demo's are not among Taiyaki's five test
    reads, tests/test_training_sources.py checks)."""
    training = plan.config["training"]
    local = [entry for entry in training["mapped_signal"] if isinstance(entry, str)]
    for key, paths in (("mapped_signal", local), ("reads", training["reads"])):
        for path in paths:
            if not Path(path).exists():
                raise ModelshrinkError(f"config key training.{key}: {path} does not exist")
    for path in training["reads"]:
        trained = Path(path).resolve()
        for sample, row in plan.samples.items():
            evaluated = Path(row["reads"]).resolve()
            if trained == evaluated or evaluated in trained.parents:
                clash = "lies in"
            elif trained in evaluated.parents:
                clash = "holds"
            else:
                continue
            raise ModelshrinkError(
                f"config key training.reads: {path} {clash} the reads of sample "
                f"{sample!r} ({row['reads']}); evaluate on reads not used for tuning"
            )


def check_simulation(config: Mapping[str, Any]) -> None:
    """The demo's simulate: settings, checked by the simulator's own specs."""
    if not config["demo"]["enabled"]:
        return
    kinds = {
        "genome": simulate_specs.GenomeSpec,
        "variants": simulate_specs.GenomicVariantSpec,
        "reads": simulate_specs.ReadSpec,
    }
    for section, kind in kinds.items():
        try:
            simulate_specs.spec_from_mapping(
                kind, config["simulate"][section], f"simulate.{section}"
            )
        except ModelshrinkError as error:
            raise ModelshrinkError(f"config: {error}") from None


def check_merfish(merfish: Mapping[str, Any]) -> None:
    """The merfish: section parsed by the family's own spec parser, and the user's dataset
    folder checked for its three splits, so mistakes surface now, not in merfish_train.
    Reading every image (missing rounds, sizes, barcodes) is merfish_train's first step.
    """
    if not merfish["enabled"]:
        return
    if not merfish["variants"]:
        raise ModelshrinkError(
            "config key merfish.variants: no variants; add at least one, "
            "e.g. float32: {method: float32}"
        )
    if merfish["data"]:
        missing = [s for s in ("train", "val", "test") if not Path(merfish["data"], s).is_dir()]
        if missing:
            raise ModelshrinkError(
                f"config key merfish.data: {merfish['data']} lacks the split folder(s) "
                f"{', '.join(missing)}; expected the original layout "
                "({train,val,test}/1/647nm, Raw/..., {split}/groundtruths/) or an empty "
                "value to simulate tiles"
            )
    try:
        MerfishConfig.from_mapping({key: merfish[key] for key in MERFISH_SPEC_KEYS})
    except ModelshrinkError as error:
        raise ModelshrinkError(f"config: {error}") from None


def check_choices(plan: WorkflowPlan) -> None:
    """Combinations the schema cannot express."""
    config = plan.config
    basecall = config["basecall"]
    if basecall["overlap"] >= basecall["chunk_size"]:
        raise ModelshrinkError(
            f"config key basecall.overlap: {basecall['overlap']} must be smaller than "
            f"basecall.chunk_size ({basecall['chunk_size']}); both count network steps"
        )
    if plan.nanopolish or plan.caller == "nanopolish":
        samples = plan.samples.items()
        pod5 = [s for s, row in samples if str(row["reads"]).endswith(".pod5")]
        if pod5:
            raise ModelshrinkError(
                f"nanopolish reads fast5 only; samples {pod5} have pod5 reads: set "
                f"polish.nanopolish: false and a calling.caller other than nanopolish"
            )


def check_clair3_model(plan: WorkflowPlan) -> None:
    """A user's Clair3 model folder exists and holds a 2.x (PyTorch) model, so a wrong
    path stops the run now instead of failing clair3_call at the end of a long run."""
    folder = plan.config["calling"]["clair3"]["model_path"]
    if plan.caller != "clair3" or not folder:
        return
    key = "config key calling.clair3.model_path"
    if not Path(folder).is_dir():
        raise ModelshrinkError(f"{key}: {folder} is not a folder")
    missing = [name for name in CLAIR3_MODEL_FILES if not Path(folder, name).is_file()]
    if missing:
        tensorflow = " (it looks like a Clair3 1.x TensorFlow model)" * any(
            Path(folder).glob("pileup.index")
        )
        raise ModelshrinkError(
            f"{key}: {folder} lacks {', '.join(missing)}{tensorflow}; Clair3 2.x needs "
            f"a PyTorch model folder with {' and '.join(CLAIR3_MODEL_FILES)} "
            "(https://www.bio8.cs.hku.hk/clair3/clair3_models_pytorch/)"
        )


def check_confident_regions(config: Mapping[str, Any]) -> None:
    path = config["evaluation"]["confident_regions"]
    if path and not Path(path).is_file():
        raise ModelshrinkError(
            f"config key evaluation.confident_regions: {path} does not exist "
            "(expected a BED file of the regions where the truth VCF is complete)"
        )


def check_sensitivity(plan: WorkflowPlan) -> None:
    """The scan measures damage on real labelled chunks and on a sample's reads."""
    config = plan.config
    if not config["sensitivity"]["enabled"]:
        return
    proposed = plan.proposed[0]
    if proposed in config["variants"]:
        raise ModelshrinkError(
            f"config key variants.{proposed}: the name is the sensitivity proposer's "
            f"(sensitivity.enabled); rename the variant or set sensitivity.enabled: false"
        )
    if not config["training"]["mapped_signal"]:
        raise ModelshrinkError(
            "config key sensitivity.enabled: the scan measures damage on real labelled "
            "chunks; give training.mapped_signal or set sensitivity.enabled: false"
        )


def required_tools(plan: WorkflowPlan) -> list[str]:
    """The command-line tools this configuration's rules call."""
    tools = ["modelshrink", "minimap2", "samtools", "bcftools", "bgzip", "tabix"]
    tools += {
        "miniasm": ["miniasm", "racon"],
        "flye": ["flye"],
        "reference": ["racon"],
    }[plan.config["assembly"]["assembler"]]
    tools += ["racon"] * (plan.racon_rounds > 0) + ["nanopolish"] * plan.nanopolish
    tools += ["medaka_consensus"] * plan.medaka
    tools += {
        "modelshrink": [],
        "bcftools": [],
        "freebayes": ["freebayes"],
        "nanopolish": ["nanopolish"],
        "clair3": ["run_clair3.sh"],
    }[plan.caller]
    tools += ["hap.py"] * (plan.evaluator == "happy")
    return list(dict.fromkeys(tools))


def check_tools(plan: WorkflowPlan) -> None:
    """Without conda every tool must be on PATH: name each missing one and where to get
    it (the workflow calls this on start of a real run without --sdm conda)."""
    missing = [tool for tool in required_tools(plan) if shutil.which(tool) is None]
    if missing:
        lines = [
            f"  {tool}: run with --sdm conda ({TOOL_SOURCES[tool][0]}) or {TOOL_SOURCES[tool][1]}"
            for tool in missing
        ]
        raise ModelshrinkError("missing tools on PATH:\n" + "\n".join(lines))
