"""Per-read fields of basecall output shaped as Dorado and Guppy write them.

BAM (Dorado's SAM specification): `@RG` with ID `<run id>_<model>` and DS
`basecall_model=<model> runid=<run id>`, `@PG` with the package version and command line,
and per record RG, qs (mean Q score), ch, mx, rn, st (ISO 8601, UTC), du (seconds), fn
(input file name) and, when asked, mv (move table) with ts/ns. FASTQ (Guppy/MinKNOW
headers): `@<read id> runid=... read=... ch=... start_time=... basecall_model_version_id=...`.

A value the read file lacks is left out (no ch/mx/rn/st tag, no read=/ch=/start_time=
field) instead of being invented; a missing run id is written as `unknown`, as ONT's
output specification does for a missing model.
"""

from __future__ import annotations

import array
import datetime

from modelshrink.basecaller.basecall import Basecall, read_mean_qscore
from modelshrink.basecaller.signal.metadata import ReadMetadata

#: Dorado leaves the first 60 bases out of a read's mean Q score (noisy start of a read)
QSCORE_TRIMMED_BASES = 60
UNKNOWN = "unknown"


def dorado_mean_qscore(qualities: str) -> float:
    """Dorado's read Q score: the Phred score of the mean error probability of the bases
    after the first 60 (all bases when the read has 60 or fewer)."""
    kept = qualities[QSCORE_TRIMMED_BASES:] if len(qualities) > QSCORE_TRIMMED_BASES else qualities
    return read_mean_qscore(kept)


def run_id(metadata: ReadMetadata) -> str:
    return metadata.run_id or UNKNOWN


def read_group_id(metadata: ReadMetadata, model: str) -> str:
    return f"{run_id(metadata)}_{model}"


def read_group(metadata: ReadMetadata, model: str) -> dict[str, str]:
    """The @RG line of one run; DT is the run's start where the file records it."""
    group = {
        "ID": read_group_id(metadata, model),
        "PL": "ONT",
        "DS": f"basecall_model={model} runid={run_id(metadata)}",
    }
    if metadata.run_start is not None:
        group["DT"] = iso_time(metadata.run_start)
    return group


def program(version: str, command_line: str) -> dict[str, str]:
    return {"ID": "basecaller", "PN": "modelshrink", "VN": version, "CL": command_line}


def iso_time(moment: datetime.datetime) -> str:
    """ISO 8601 / RFC 3339 in UTC with milliseconds, as Dorado writes st."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds")


def duration_seconds(call: Basecall) -> float | None:
    rate = call.metadata.sampling_rate
    return call.samples / rate if rate else None


def bam_tags(
    call: Basecall, model: str, stride: int, emit_moves: bool
) -> list[tuple[str, object, str]]:
    """(tag, value, SAM type) per Dorado's SAM specification; mv is `stride, moves...`
    over signal[ts:ns], here the whole read (ts 0)."""
    metadata = call.metadata
    tags: list[tuple[str, object, str]] = [
        ("RG", read_group_id(metadata, model), "Z"),
        ("qs", dorado_mean_qscore(call.qualities), "f"),
    ]
    for tag, value in (
        ("ch", metadata.channel),
        ("mx", metadata.mux),
        ("rn", metadata.read_number),
    ):
        if value is not None:
            tags.append((tag, value, "i"))
    start = metadata.start_time()
    if start is not None:
        tags.append(("st", iso_time(start), "Z"))
    duration = duration_seconds(call)
    if duration is not None:
        tags.append(("du", duration, "f"))
    tags.append(("fn", metadata.source.name, "Z"))
    if emit_moves:
        moves = array.array("b", [stride, *call.moves.tolist()])
        tags.append(("ts", 0, "i"))
        tags.append(("ns", len(call.moves) * stride, "i"))
        tags.append(("mv", moves, "B"))
    return tags


def fastq_header(call: Basecall, model: str) -> str:
    """The header line without its '@': read id, then Guppy's key=value fields."""
    metadata = call.metadata
    fields = [call.read_id, f"runid={run_id(metadata)}"]
    if metadata.read_number is not None:
        fields.append(f"read={metadata.read_number}")
    if metadata.channel is not None:
        fields.append(f"ch={metadata.channel}")
    start = metadata.start_time()
    if start is not None:
        fields.append(f"start_time={iso_time(start)}")
    fields.append(f"basecall_model_version_id={model}")
    return " ".join(fields)
