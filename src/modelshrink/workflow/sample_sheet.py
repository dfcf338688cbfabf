"""The sample sheet: one checked row per sample, plus the simulated demo sample.

Every mistake in the sheet is one line naming its line and column, and the files a row
names are sniffed (`sample_files`), so a wrong file stops the run at startup.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from modelshrink.errors import ModelshrinkError
from modelshrink.workflow.sample_files import check_sample_files

#: where the demo's simulated data is written (rules/demo_data.smk)
DEMO_DIR = "results/demo"


def read_sheet_rows(
    sheet: str, required: Sequence[str], optional: Sequence[str]
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row without its empty values) for each row of the tab-separated
    sheet, after checking that the header names every required column and no row has
    more fields than it."""
    with open(sheet, newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        columns = reader.fieldnames or []
        missing = [column for column in required if column not in columns]
        if missing:
            raise ModelshrinkError(
                f"{sheet} line 1: no column {', '.join(missing)}; expected a tab-separated "
                f"header with the columns {', '.join(required)} (optional: "
                f"{', '.join(optional)}), found {columns}"
            )
        rows = []
        for row in reader:
            if None in row:  # csv puts fields beyond the header's under None
                raise ModelshrinkError(
                    f"{sheet} line {reader.line_num}: {len(columns) + len(row[None])} "
                    f"tab-separated fields, more than the header's {len(columns)}"
                )
            rows.append((reader.line_num, {k: v for k, v in row.items() if v}))
        return rows


def sheet_row_problem(row: Mapping[str, str], schema: Mapping[str, Any]) -> str | None:
    """What is wrong with one sheet row's values (empty ones dropped), or None."""
    empty = [column for column in schema["required"] if column not in row]
    if empty:
        return f"no value in column {', '.join(empty)}"
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(row)))
    if error is not None:
        return f"column {'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
    return None


def read_sample_sheet(config: Mapping[str, Any], schema_path: Path) -> dict[str, dict]:
    """Sample name -> {reads, reference, truth_vcf} from the sheet (config key samples),
    plus the simulated demo sample when demo.enabled."""
    samples: dict[str, dict] = {}
    sheet = config["samples"]
    if sheet:
        if not Path(sheet).is_file():
            raise ModelshrinkError(f"config key samples: sample sheet {sheet} does not exist")
        schema = yaml.safe_load(Path(schema_path).read_text())
        required = schema["required"]
        optional = [column for column in schema["properties"] if column not in required]
        lines: dict[str, int] = {}
        for number, row in read_sheet_rows(sheet, required, optional):
            problem = sheet_row_problem(row, schema)
            if problem:
                raise ModelshrinkError(f"{sheet} line {number}: {problem}")
            name = row["sample"]
            if name in lines:
                raise ModelshrinkError(
                    f"{sheet} line {number}: sample {name!r} is already on line "
                    f"{lines[name]}; expected one row per sample"
                )
            lines[name] = number
            try:
                check_sample_files(row)
            except ModelshrinkError as error:
                raise ModelshrinkError(f"{sheet} line {number}: sample {name!r}: {error}") from None
            samples[name] = {
                "reads": row["reads"],
                "reference": row["reference"],
                "truth_vcf": row.get("truth_vcf"),
            }
    demo = config["demo"]
    if demo["enabled"]:
        if demo["sample"] in samples:
            raise ModelshrinkError(
                f"sample name {demo['sample']!r} is used by the demo; rename it in {sheet}"
            )
        samples[demo["sample"]] = {
            "reads": f"{DEMO_DIR}/reads.fast5",
            "reference": f"{DEMO_DIR}/reference.fasta",
            "truth_vcf": f"{DEMO_DIR}/truth.vcf.gz",
        }
    if not samples:
        raise ModelshrinkError(
            "no samples: set `samples:` to a sample sheet or enable `demo.enabled`"
        )
    return samples
