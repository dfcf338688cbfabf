import csv
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../config/schema/config.schema.yaml")

DEMO = config["demo"]
DEMO_DIR = "results/demo"


def read_sample_sheet():
    """Samples from the sheet, plus the simulated demo sample when enabled."""
    samples = {}
    sheet = config.get("samples")
    if sheet:
        with open(sheet) as handle:
            rows = [row for row in csv.DictReader(handle, delimiter="\t")]
        for row in rows:
            validate(row, schema="../config/schema/samples.schema.yaml")
            for key in ("reads", "reference"):
                if not Path(row[key]).exists():
                    raise ValueError(
                        f"{sheet}: sample {row['sample']!r}: {key} path {row[key]} does not exist"
                    )
            samples[row["sample"]] = {
                "reads": row["reads"],
                "reference": row["reference"],
                "truth_vcf": row.get("truth_vcf") or None,
            }
    if DEMO["enabled"]:
        if DEMO["sample"] in samples:
            raise ValueError(
                f"sample name {DEMO['sample']!r} is used by the demo; rename it in {sheet}"
            )
        samples[DEMO["sample"]] = {
            "reads": f"{DEMO_DIR}/reads.fast5",
            "reference": f"{DEMO_DIR}/reference.fasta",
            "truth_vcf": f"{DEMO_DIR}/truth.vcf.gz",
        }
    if not samples:
        raise ValueError(
            "no samples: set `samples:` to a sample sheet or enable `demo.enabled`"
        )
    return samples


SAMPLES = read_sample_sheet()
VARIANTS = ["original"]


wildcard_constraints:
    sample="|".join(SAMPLES),
    variant="|".join(VARIANTS),


def get_reads(wildcards):
    return SAMPLES[wildcards.sample]["reads"]


def get_reference(wildcards):
    return SAMPLES[wildcards.sample]["reference"]


def get_model(wildcards):
    return f"results/models/{wildcards.variant}.safetensors"


def get_final_output():
    return expand(
        "results/identity/{variant}/{sample}.summary.tsv",
        variant=VARIANTS,
        sample=SAMPLES,
    )
