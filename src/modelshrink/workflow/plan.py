"""What a configuration runs: its variants, stages and files, for rules/common.smk.

The workflow's input functions ask this plan (built once from the checked config and
the sample sheet) which files a job reads, so the path logic is plain, tested Python
and every rule finds one answer. Paths follow rules/*.smk.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelshrink.basecaller.compress.spec import ORIGINAL, parse_variant
from modelshrink.errors import ModelshrinkError
from modelshrink.sensitivity import PROPOSED_VARIANT
from modelshrink.workflow.sample_sheet import DEMO_DIR

#: the demo's simulated training chunks (training.simulated)
DEMO_CHUNKS = f"{DEMO_DIR}/training_chunks.hdf5"
REAL_READ_DIR = "resources/real_reads"
#: the merFISH dataset the workflow simulates when merfish.data is empty
MERFISH_SIMULATED_DATA = "results/merfish/data"
#: the keys of the merfish: section that modelshrink.merfish.spec parses (the others are
#: the workflow's own: enabled, data, evaluation)
MERFISH_SPEC_KEYS = ("simulation", "model", "train", "variants")
#: assembler -> the file name of its draft
DRAFTS = {"miniasm": "miniasm", "flye": "flye", "reference": "reference_guided"}
#: the R9.4.1 k-mer model of the demo's simulator (fetched by rule pore_model_fetch)
PORE_MODEL = "resources/pore_models/dna_r9.4.1_400bps_6mer.npz"
#: the two files of a Clair3 2.x (PyTorch) model folder
CLAIR3_MODEL_FILES = ("pileup.pt", "full_alignment.pt")
#: where rule clair3_model puts the model shipped with the clair3 env
CLAIR3_MODEL_DIR = "resources/clair3_models"
#: the sensitivity settings each job reads (sensitivity.enabled is the workflow's own)
SENSITIVITY_SETTINGS = {
    "scan": ("sparsities", "bits", "chunks", "chunk_samples", "reads", "read_samples"),
    "propose": ("budget_points", "chunks", "chunk_samples", "verify_reads", "read_samples"),
    "merfish": ("sparsities", "bits"),
}


def real_read_files(real_reads: Mapping[str, Any]) -> dict[str, dict]:
    """Fetched file name -> config entry of every real read file; names come from the
    sources' last path component and must be distinct fast5/pod5 names."""
    files: dict[str, dict] = {}
    for number, entry in enumerate(real_reads["reads"]):
        name = Path(urlparse(entry["source"]).path).name
        key = f"real_reads.reads[{number}].source"
        if Path(name).suffix not in (".fast5", ".pod5"):
            raise ModelshrinkError(
                f"config key {key}: {entry['source']} does not end in .fast5 or .pod5"
            )
        if name in files:
            raise ModelshrinkError(
                f"config key {key}: a second file named {name}; real read files need distinct names"
            )
        files[name] = entry
    if files and not real_reads.get("reference"):
        raise ModelshrinkError(
            "config key real_reads.reference: real reads need a reference "
            "({source: URL or path, sha256: ...})"
        )
    return files


@dataclass
class WorkflowPlan:
    """The checked config (schema defaults filled in) and the samples it runs on."""

    config: Mapping[str, Any]
    samples: Mapping[str, Mapping[str, Any]]

    def __post_init__(self) -> None:
        config = self.config
        self.compressed = list(config["variants"])
        #: the variant the sensitivity proposer writes (rule compress_proposed), when enabled
        self.proposed = [PROPOSED_VARIANT] if config["sensitivity"]["enabled"] else []
        self.variants = [ORIGINAL, *self.compressed, *self.proposed]
        self.caller = config["calling"]["caller"]
        self.evaluator = config["evaluation"]["evaluator"]
        self.racon_rounds = config["polish"]["racon_rounds"]
        self.nanopolish = config["polish"]["nanopolish"]
        self.medaka = config["polish"]["medaka"]["enabled"]
        self.draft = DRAFTS[config["assembly"]["assembler"]]
        self.real_read_files = real_read_files(config["real_reads"])
        merfish = config["merfish"]
        self.merfish_variants = list(merfish["variants"]) if merfish["enabled"] else []
        self.merfish_data = merfish["data"] or MERFISH_SIMULATED_DATA

    # --- compression -------------------------------------------------------------------

    def variant_base(self, variant: str) -> str:
        """The variant a variant is compressed from (`base`; the original by default)."""
        return self.config["variants"][variant].get("base", ORIGINAL)

    def compression_spec(self, variant: str) -> dict[str, Any]:
        """What `modelshrink compress` applies: the variant's entry without `base`."""
        return {k: v for k, v in self.config["variants"][variant].items() if k != "base"}

    def mapped_signal_files(self) -> list[str]:
        """The mapped-signal files as the workflow reads them: a local path in place, a
        {source, sha256} entry fetched into resources/training/ (rule training_fetch)."""
        return [
            entry if isinstance(entry, str) else f"resources/training/mapped_signal_{index}.hdf5"
            for index, entry in enumerate(self.config["training"]["mapped_signal"])
        ]

    def labelled_training_data(self) -> list[str]:
        """Sources with bases: mapped-signal files, and the demo's chunks when asked for."""
        return self.mapped_signal_files() + [DEMO_CHUNKS] * self.config["training"]["simulated"]

    def training_data(self, variant: str) -> list[str]:
        """Training data, only for variants that fine-tune or calibrate OBS pruning or GPTQ
        on it (others need no input): the labelled sources, plus training.reads for the
        objectives that need no labels (distill, calibration)."""
        spec = parse_variant(variant, self.compression_spec(variant))
        if not spec.needs_training:
            return []
        if spec.needs_labels:
            return self.labelled_training_data()
        return self.labelled_training_data() + self.config["training"]["reads"]

    def fetched_mapped_signal(self, index: int) -> Mapping[str, str]:
        """The {source, sha256} entry of training.mapped_signal that a fetch job brings in."""
        entry = self.config["training"]["mapped_signal"][index]
        if isinstance(entry, str):
            raise ModelshrinkError(
                f"training.mapped_signal entry {index} is the local path {entry}, "
                f"used in place; nothing to fetch"
            )
        return entry

    # --- assembly and polishing ----------------------------------------------------------

    def draft_assembly(self, variant: str, sample: str) -> str:
        """The configured assembler's draft (assembly.assembler)."""
        return f"results/assembly/{variant}/{sample}/{self.draft}.fasta"

    def racon_backbone(self, variant: str, sample: str, number: int) -> str:
        """Round 1 polishes the draft, round n the result of round n-1."""
        if number == 1:
            return self.draft_assembly(variant, sample)
        return f"results/polish/{variant}/{sample}/racon_{number - 1}.fasta"

    def racon_output(self, variant: str, sample: str) -> str:
        """The assembly after all racon rounds (the draft when there are none)."""
        if self.racon_rounds == 0:
            return self.draft_assembly(variant, sample)
        return f"results/polish/{variant}/{sample}/racon_{self.racon_rounds}.fasta"

    def medaka_input(self, variant: str, sample: str) -> str:
        """medaka follows nanopolish when both run."""
        if self.nanopolish:
            return f"results/polish/{variant}/{sample}/nanopolish.fasta"
        return self.racon_output(variant, sample)

    def assembly_stages(self) -> dict[str, str]:
        """Stage name -> assembly path pattern, in order; identity is measured after each."""
        folder = "results/polish/{variant}/{sample}"
        stages = {"draft": f"results/assembly/{{variant}}/{{sample}}/{self.draft}.fasta"}
        if self.racon_rounds:
            stages["racon"] = f"{folder}/racon_{self.racon_rounds}.fasta"
        if self.nanopolish:
            stages["nanopolish"] = f"{folder}/nanopolish.fasta"
        if self.medaka:
            stages["medaka"] = f"{folder}/medaka.fasta"
        return stages

    def raw_calls(self, variant: str, sample: str) -> str:
        """The configured caller's calls, before normalisation."""
        return f"results/calls/{variant}/{sample}.{self.caller}.raw.vcf.gz"

    def evaluation_prefix(self, variant: str, sample: str) -> str:
        return f"results/evaluation/{variant}/{sample}.{self.caller}.{self.evaluator}"

    def flye_options(self) -> str:
        """--genome-size and --extra-params when set (flye estimates / uses its defaults)."""
        settings = self.config["assembly"]["flye"]
        options = []
        if settings["genome_size"]:
            options.append(f"--genome-size {shlex.quote(settings['genome_size'])}")
        if settings["extra_params"]:
            options.append(f"--extra-params {shlex.quote(settings['extra_params'])}")
        return " ".join(options)

    # --- calling and evaluation inputs -----------------------------------------------------

    def clair3_model_folder(self) -> str:
        """The model folder clair3_call reads: the user's calling.clair3.model_path, else the
        shipped model calling.clair3.model copied out of the clair3 env by clair3_model."""
        settings = self.config["calling"]["clair3"]
        return settings["model_path"] or f"{CLAIR3_MODEL_DIR}/{settings['model']}"

    def clair3_model_files(self) -> list[str]:
        return [f"{self.clair3_model_folder()}/{name}" for name in CLAIR3_MODEL_FILES]

    def confident_regions(self) -> list[str]:
        """The confident-regions BED as an input (none when evaluation.confident_regions
        is empty)."""
        path = self.config["evaluation"]["confident_regions"]
        return [path] if path else []

    # --- sensitivity scans ---------------------------------------------------------------

    def sensitivity_inputs(self) -> dict[str, Any]:
        """The scan's and the proposer's inputs: the original, the labelled chunks, and the
        reads of the first sample with its reference."""
        sample = next(iter(self.samples))
        return {
            "model": f"results/models/{ORIGINAL}.safetensors",
            "chunks": self.mapped_signal_files(),
            "reads": self.samples[sample]["reads"],
            "reference": f"results/reference/{sample}.fasta",
        }

    def sensitivity_outputs(self) -> list[str]:
        """The scans' tables and heatmaps (merFISH's when that branch runs)."""
        if not self.config["sensitivity"]["enabled"]:
            return []
        outputs = ["results/sensitivity/basecaller.tsv", "results/plots/sensitivity.svg"]
        if self.config["merfish"]["enabled"]:
            outputs += ["results/merfish/sensitivity.tsv", "results/merfish/plots/sensitivity.svg"]
        return outputs

    # --- report ------------------------------------------------------------------------

    def real_read_identity_table(self, variant: str) -> str | None:
        """The variant's per-read identity on the real reads (None: no real reads)."""
        if not self.real_read_files:
            return None
        return f"results/real_reads/identity/{variant}.tsv"

    def summary_rows(self) -> list[dict[str, Any]]:
        """For each variant x sample, the files whose numbers become one summary row."""
        polished = list(self.assembly_stages())[-1]
        rows = []
        for variant in self.variants:
            for sample, row in self.samples.items():
                identity = f"results/assembly_identity/{variant}/{sample}"
                racon = f"results/polish/{variant}/{sample}/racon_{self.racon_rounds}.fasta"
                evaluation = f"{self.evaluation_prefix(variant, sample)}.summary.csv"
                rows.append(
                    {
                        "variant": variant,
                        "sample": sample,
                        "stats": f"results/models/{variant}.stats.json",
                        "compress_report": (
                            f"results/models/{variant}.report.json" if variant != ORIGINAL else None
                        ),
                        "speed": f"results/basecalls/{variant}/{sample}.speed.tsv",
                        "timing": f"results/timing/{sample}.tsv",
                        "read_identity": f"results/identity/{variant}/{sample}.summary.tsv",
                        "read_identity_table": f"results/identity/{variant}/{sample}.tsv",
                        "real_read_identity_table": self.real_read_identity_table(variant),
                        "assembly_draft": f"{identity}/draft.summary.tsv",
                        "assembly_polished": f"{identity}/{polished}.summary.tsv",
                        "assembly_polished_pieces": f"{identity}/{polished}.tsv",
                        "racon": racon if self.racon_rounds else None,
                        "calling_usage": f"results/calls/{variant}/{sample}.usage.tsv",
                        "evaluation": evaluation if row["truth_vcf"] else None,
                    }
                )
        return rows

    def summary_inputs(self) -> list[str]:
        """Every file a summary row names (the report rule's real inputs)."""
        paths = [
            path
            for row in self.summary_rows()
            for key, path in row.items()
            if key not in ("variant", "sample")
        ]
        return sorted({path for path in paths if path})

    def read_identity_tables(self) -> list[str]:
        """Per-read identity tables of every row, and of the real reads when measured."""
        tables = [
            row[key]
            for row in self.summary_rows()
            for key in ("read_identity_table", "real_read_identity_table")
        ]
        return list(dict.fromkeys(table for table in tables if table))

    def merfish_manifest(self) -> list[dict[str, str]]:
        """Per merFISH variant, its method and the two JSON files its summary row joins."""
        return [
            {
                "variant": name,
                "method": self.config["merfish"]["variants"][name]["method"],
                "compress": f"results/merfish/variants/{name}.json",
                "evaluation": f"results/merfish/evaluation/{name}.json",
            }
            for name in self.merfish_variants
        ]

    def merfish_summary_inputs(self) -> list[str]:
        manifest = self.merfish_manifest()
        return [entry[key] for entry in manifest for key in ("compress", "evaluation")]

    def merfish_curves(self) -> list[str]:
        return [f"results/merfish/evaluation/{name}.curves.tsv" for name in self.merfish_variants]

    def merfish_outputs(self) -> list[str]:
        """The merFISH branch's targets (none when merfish.enabled is false)."""
        if not self.config["merfish"]["enabled"]:
            return []
        return [
            "results/merfish/summary.tsv",
            "results/merfish/plots/size_vs_accuracy.svg",
            "results/merfish/plots/speed.svg",
            "results/merfish/plots/curves.png",
            *(f"results/merfish/maps/{name}.png" for name in self.merfish_variants),
        ]

    def final_outputs(self) -> list[str]:
        """Everything `rule all` asks for; assembly identity after every polishing stage
        (the summary shows the first and last; each stage's own number shows what it added)."""
        stages = [
            f"results/assembly_identity/{variant}/{sample}/{stage}.summary.tsv"
            for variant in self.variants
            for sample in self.samples
            for stage in self.assembly_stages()
        ]
        return [
            *self.sensitivity_outputs(),
            "results/summary.tsv",
            *stages,
            "results/plots/read_identity.svg",
            "results/plots/size_vs_accuracy.svg",
            "results/plots/identity_change.svg",
            "results/plots/f1.svg",
            *self.merfish_outputs(),
        ]

    # --- settings files (rules/settings.smk) -------------------------------------------------

    def settings(self, name: str) -> str:
        """The body of results/settings/NAME.json, the settings file a job's `modelshrink`
        command reads with --settings, as canonical JSON (sorted keys): its content is the
        settings_write rule's params, so a changed setting rewrites it and reruns exactly
        the jobs reading it."""
        config = self.config
        merfish = config["merfish"]
        parts = name.split("/")
        if name == "basecall":
            body: Any = {"basecall": config["basecall"]}
        elif name == "timing":  # times the torch engine, whatever basecall.engine says
            basecall = {k: v for k, v in config["basecall"].items() if k != "engine"}
            body = {"basecall": basecall, "timing": config["timing"]}
        elif name == "call":
            calling = config["calling"]
            shared = {key: calling[key] for key in ("min_mapq", "min_depth")}
            body = {"calling": {**shared, "modelshrink": calling["modelshrink"]}}
        elif name == "evaluate":
            body = {"evaluation": {"pass_only": config["evaluation"]["pass_only"]}}
        elif parts[0] == "sensitivity" and len(parts) == 2 and parts[1] in SENSITIVITY_SETTINGS:
            keys = SENSITIVITY_SETTINGS[parts[1]]
            body = {"sensitivity": {key: config["sensitivity"][key] for key in keys}}
        elif name == "simulate":
            body = {"simulate": config["simulate"]}
        elif parts[0] == "compress" and len(parts) == 2 and parts[1] in self.compressed:
            body = self.compression_spec(parts[1])
        elif name == "report/summary":
            body = {"manifest": self.summary_rows()}
        elif name == "merfish/simulate":
            body = {"merfish": {"simulation": merfish["simulation"]}}
        elif name == "merfish/train":
            body = {"merfish": {"model": merfish["model"], "train": merfish["train"]}}
        elif parts[:2] == ["merfish", "compress"] and parts[2:] and parts[2] in merfish["variants"]:
            # only this variant's spec (and the training settings fine-tuning reuses):
            # editing one variant reruns that variant alone
            variant = {parts[2]: merfish["variants"][parts[2]]}
            body = {"merfish": {"train": merfish["train"], "variants": variant}}
        elif name == "merfish/evaluate":
            body = {"merfish": {"evaluation": merfish["evaluation"]}}
        elif name == "merfish/report":
            body = {"manifest": self.merfish_manifest()}
        else:
            raise ModelshrinkError(f"no settings file named {name!r}")
        return json.dumps(body, sort_keys=True, indent=1)
