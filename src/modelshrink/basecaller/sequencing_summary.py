"""sequencing_summary.txt as Guppy and Dorado write it: one tab-separated row per read.

Columns are the ones pycoQC, NanoPlot (`--summary`) and MinIONQC read: filename (the
input fast5/pod5), read_id, run_id, channel, mux, start_time and duration (seconds from
the run start and of the read), passes_filtering, template_start/template_duration (the
whole read is the template here), sequence_length_template and mean_qscore_template
(Dorado's definition, ont_records.dorado_mean_qscore). A value the read file lacks is
left empty; a missing run id is `unknown` as in the BAM and FASTQ output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from modelshrink.atomic import atomic_output
from modelshrink.basecaller.basecall import Basecall
from modelshrink.basecaller.ont_records import dorado_mean_qscore, duration_seconds, run_id

COLUMNS = (
    "filename",
    "read_id",
    "run_id",
    "channel",
    "mux",
    "start_time",
    "duration",
    "passes_filtering",
    "template_start",
    "template_duration",
    "sequence_length_template",
    "mean_qscore_template",
)
#: Guppy's min_qscore for R9.4.1 fast models: reads below it are "fail" reads
PASS_QSCORE = 7.0


def _number(value: float | int | None, digits: int = 6) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def summary_row(call: Basecall) -> dict[str, str]:
    metadata = call.metadata
    qscore = dorado_mean_qscore(call.qualities)
    start = _number(metadata.start_seconds())
    duration = _number(duration_seconds(call))
    return {
        "filename": metadata.source.name,
        "read_id": call.read_id,
        "run_id": run_id(metadata),
        "channel": _number(metadata.channel),
        "mux": _number(metadata.mux),
        "start_time": start,
        "duration": duration,
        "passes_filtering": "TRUE" if qscore >= PASS_QSCORE else "FALSE",
        "template_start": start,
        "template_duration": duration,
        "sequence_length_template": str(len(call.sequence)),
        "mean_qscore_template": f"{qscore:.2f}",
    }


@contextlib.contextmanager
def sequencing_summary(path: str | Path) -> Iterator[Callable[[Basecall], None]]:
    """Yields `add(call)`, which writes the call's row; the file appears, complete, only
    if the block finishes."""
    with atomic_output(path, suffix=".txt") as temporary, open(temporary, "w") as handle:
        handle.write("\t".join(COLUMNS) + "\n")

        def add(call: Basecall) -> None:
            row = summary_row(call)
            handle.write("\t".join(row[column] for column in COLUMNS) + "\n")

        yield add
