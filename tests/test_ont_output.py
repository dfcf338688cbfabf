"""Basecall output shaped as ONT tools write it, checked with the tools users run on it:
samtools on the BAM, NanoPlot on sequencing_summary.txt (five real R9.4.1 reads)."""

from __future__ import annotations

import datetime
import math
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from modelshrink.basecaller.sequencing_summary import COLUMNS
from modelshrink.basecaller.signal.discover import iter_reads
from modelshrink.cli import main
from modelshrink.simulate.fast5_writer import RUN_ID as RUN_ID_SIMULATED
from modelshrink.simulate.fast5_writer import Fast5Writer
from modelshrink.simulate.pod5_writer import Pod5Writer
from modelshrink.simulate.reads import ReadLayout, SimulatedRead
from modelshrink.simulate.signal import SimulatedSignal

RUN_ID = "9a076f39fd3254aeacc15a915c736105296275f3"
# read id -> (channel, mux, read number, start, duration s) from the files' own attributes
READS = {
    "0f776a08-1101-41d4-8097-89136494a46e": (
        9,
        4,
        117011,
        "2019-02-08T05:43:48.264+00:00",
        7.00125,
    ),
    "1f1a0f33-e2ac-431a-8f48-c3c687a7a7dc": (173, 4, 5131, "2019-02-07T17:46:53.189+00:00", 9.1185),
    "b7096acd-b528-474e-a863-51295d18d3de": (244, 3, 23206, "2019-02-07T19:27:41.081+00:00", 6.587),
    "db6b45aa-5d21-45cf-a435-05fb8f12e839": (69, 3, 90479, "2019-02-08T09:13:46.255+00:00", 8.547),
    "de1508c4-755b-489e-9ffb-51af35c9a7e6": (
        248,
        1,
        362464,
        "2019-02-08T15:48:18.462+00:00",
        4.75975,
    ),
}
needs_samtools = pytest.mark.skipif(shutil.which("samtools") is None, reason="samtools not on PATH")


def _samtools(*args: str) -> list[str]:
    return subprocess.run(
        ["samtools", *args], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def _tags(fields: list[str]) -> dict[str, str]:
    """SAM optional fields TAG:TYPE:VALUE -> {TAG: VALUE}."""
    return {field[:2]: field[5:] for field in fields}


def _header_fields(fields: list[str]) -> dict[str, str]:
    """SAM header fields TAG:VALUE -> {TAG: VALUE}."""
    return {field[:2]: field[3:] for field in fields}


def _dorado_qscore(qualities: str) -> float:
    """Dorado's documented mean Q score: drop the first 60 bases, average error
    probabilities, back to Phred."""
    kept = qualities[60:] if len(qualities) > 60 else qualities
    errors = [10 ** (-(ord(q) - 33) / 10) for q in kept]
    return -10 * math.log10(sum(errors) / len(errors))


def _summary(path: Path) -> list[dict[str, str]]:
    header, *rows = (line.split("\t") for line in path.read_text().splitlines())
    return [dict(zip(header, row, strict=True)) for row in rows]


def _basecall(checkpoint: Path, reads: Path, output: Path, *options: str) -> Path:
    """Calls `reads` into `output` with a sequencing summary beside it; returns the summary."""
    summary = output.with_name("sequencing_summary.txt")
    args = [str(checkpoint), str(reads), "-o", str(output), "--no-progress", *options]
    assert main(["basecall", *args, "--sequencing-summary", str(summary)]) == 0
    return summary


@pytest.fixture(scope="module")
def bam_call(
    tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path, shared_data: Path
) -> tuple[Path, Path]:
    """The single-read fast5 files called into a BAM with moves, plus their summary."""
    bam = tmp_path_factory.mktemp("bam") / "calls.bam"
    reads = shared_data / "taiyaki" / "reads"
    options = ("--model-name", "original", "--emit-moves")
    return bam, _basecall(taiyaki_checkpoint, reads, bam, *options)


@pytest.fixture(scope="module")
def fastq_call(
    tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path, shared_data: Path
) -> tuple[Path, Path]:
    """The multi-read fast5 (same reads, other layout) called into FASTQ, plus summary."""
    fastq = tmp_path_factory.mktemp("fastq") / "calls.fastq"
    return fastq, _basecall(taiyaki_checkpoint, shared_data / "taiyaki" / "multireads", fastq)


@needs_samtools
def test_bam_header_names_the_model_version_and_command(bam_call: tuple[Path, Path]) -> None:
    header = [line.split("\t") for line in _samtools("view", "-H", str(bam_call[0]))]
    groups = [_header_fields(line[1:]) for line in header if line[0] == "@RG"]
    assert groups == [
        {
            "ID": f"{RUN_ID}_original",
            "PL": "ONT",
            "DS": f"basecall_model=original runid={RUN_ID}",
            "DT": "2019-02-07T17:30:24.000+00:00",
        }
    ]
    program = next(_header_fields(line[1:]) for line in header if line[0] == "@PG")
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert program["ID"] == "basecaller" and program["PN"] == "modelshrink"
    assert program["VN"] == pyproject["project"]["version"]
    assert program["CL"].startswith("modelshrink basecall ")
    assert "--emit-moves" in program["CL"].split()


@needs_samtools
def test_every_bam_record_has_dorado_tags_from_the_read_files(
    bam_call: tuple[Path, Path],
) -> None:
    records = [line.split("\t") for line in _samtools("view", str(bam_call[0]))]
    assert sorted(record[0] for record in records) == sorted(READS)
    for record in records:
        tags = _tags(record[11:])
        channel, mux, read_number, start, duration = READS[record[0]]
        assert record[1] == "4"  # unmapped
        assert tags["RG"] == f"{RUN_ID}_original"
        assert (int(tags["ch"]), int(tags["mx"]), int(tags["rn"])) == (channel, mux, read_number)
        assert tags["st"] == start
        assert float(tags["du"]) == pytest.approx(duration)
        assert float(tags["qs"]) == pytest.approx(_dorado_qscore(record[10]), abs=1e-4)
        assert tags["fn"] == f"{record[0]}.fast5"
        # mv:B:c,stride,moves...: one move per base, covering signal[ts:ns]
        stride, *moves = (int(value) for value in tags["mv"].split(",")[1:])
        assert sum(moves) == len(record[9])
        assert int(tags["ts"]) == 0
        # the steps cover the read but for its last partial network steps
        samples = round(duration * 4000)
        assert int(tags["ns"]) == stride * len(moves)
        assert 0 <= samples - int(tags["ns"]) < 2 * stride


def test_fastq_headers_carry_guppy_fields(fastq_call: tuple[Path, Path]) -> None:
    lines = fastq_call[0].read_text().splitlines()
    headers = [line[1:].split() for line in lines[::4]]
    assert sorted(header[0] for header in headers) == sorted(READS)
    for read_id, *fields in headers:
        values = dict(field.split("=", 1) for field in fields)
        channel, _, read_number, start, _ = READS[read_id]
        assert values == {
            "runid": RUN_ID,
            "read": str(read_number),
            "ch": str(channel),
            "start_time": start,
            "basecall_model_version_id": "mGru_flipflop_remapping_model_r9_DNA",
        }
        assert datetime.datetime.fromisoformat(values["start_time"]).tzinfo is not None


def test_summary_rows_match_the_basecalls(fastq_call: tuple[Path, Path]) -> None:
    fastq, summary = fastq_call
    lines = fastq.read_text().splitlines()
    calls = {lines[i][1:].split()[0]: (lines[i + 1], lines[i + 3]) for i in range(0, len(lines), 4)}
    rows = _summary(summary)
    assert tuple(rows[0]) == COLUMNS
    assert {row["read_id"] for row in rows} == set(calls) == set(READS)
    for row in rows:
        sequence, qualities = calls[row["read_id"]]
        channel, mux, _, _, duration = READS[row["read_id"]]
        assert int(row["sequence_length_template"]) == len(sequence)
        assert float(row["mean_qscore_template"]) == pytest.approx(
            _dorado_qscore(qualities), abs=0.005
        )
        assert (row["run_id"], int(row["channel"]), int(row["mux"])) == (RUN_ID, channel, mux)
        assert float(row["duration"]) == pytest.approx(duration)
        assert row["filename"] == "FAK40126_2fd3b110ca0d020049836a61f0dfb2b9983808f9_0.fast5"
        assert row["passes_filtering"] == (
            "TRUE" if float(row["mean_qscore_template"]) >= 7 else "FALSE"
        )
    # seconds from the run start (2019-02-07T17:30:24Z) to 0f776a08's first sample
    first = next(row for row in rows if row["read_id"].startswith("0f776a08"))
    assert float(first["start_time"]) == pytest.approx(176017056 / 4000)


@pytest.mark.slow  # NanoPlot itself takes ~10 s (plotly pages)
def test_nanoplot_reads_the_summary(bam_call: tuple[Path, Path], tmp_path: Path) -> None:
    """NanoPlot (a dev dependency) parses the summary into the same reads and bases."""
    nanoplot = shutil.which("NanoPlot", path=str(Path(sys.executable).parent)) or shutil.which(
        "NanoPlot"
    )
    assert nanoplot, "NanoPlot not installed: pip install -e '.[dev]'"
    summary = bam_call[1]
    result = subprocess.run(
        [nanoplot, "--summary", str(summary), "-o", str(tmp_path), "--tsv_stats", "--no_static"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = dict(
        line.split("\t", 1) for line in (tmp_path / "NanoStats.txt").read_text().splitlines()
    )
    rows = _summary(summary)
    assert int(stats["number_of_reads"]) == len(rows) == len(READS)
    assert float(stats["number_of_bases"]) == sum(
        int(row["sequence_length_template"]) for row in rows
    )
    assert int(stats["active_channels"]) == len({row["channel"] for row in rows})


def test_a_failed_basecall_leaves_no_bam_or_summary(
    tmp_path: Path, taiyaki_checkpoint: Path
) -> None:
    empty = tmp_path / "reads"
    empty.mkdir()
    (empty / "broken.fast5").write_bytes(b"not hdf5")
    bam, summary = tmp_path / "calls.bam", tmp_path / "sequencing_summary.txt"
    args = [str(taiyaki_checkpoint), str(empty), "-o", str(bam), "--no-progress"]
    assert main(["basecall", *args, "--sequencing-summary", str(summary)]) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reads"]


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert capsys.readouterr().out.strip() == f"modelshrink {pyproject['project']['version']}"


def _simulated_read(read_id: str, raw: np.ndarray) -> SimulatedRead:
    return SimulatedRead(
        layout=ReadLayout(read_id, "chr", "+", 0, len(raw)),
        sequence="",
        signal=SimulatedSignal(
            raw=raw,
            base_starts=np.array([0, len(raw)]),
            offset=10.0,
            digitisation=8192.0,
            range_pa=1455.56,
        ),
        read_number=12,
        channel=37,
        mux=2,
        start_time=8000,
        median_before=200.0,
    )


def test_simulated_fast5_and_pod5_carry_the_same_read_metadata(tmp_path: Path) -> None:
    read_id = "5d0c3b0e-1f6a-4c1e-9d39-0a5c43b6f0a2"
    raw = np.arange(2000, dtype=np.int16) % 300
    for writer, name in ((Fast5Writer, "reads.fast5"), (Pod5Writer, "reads.pod5")):
        with writer(tmp_path / name, 4000.0) as sink:
            sink.add(_simulated_read(read_id, raw))
    (fast5,) = iter_reads([tmp_path / "reads.fast5"])
    (pod5,) = iter_reads([tmp_path / "reads.pod5"])
    expected = (RUN_ID_SIMULATED, 4000.0, 37, 2, 12, 8000)
    for read in (fast5, pod5):
        metadata = read.metadata()
        assert (
            metadata.run_id,
            metadata.sampling_rate,
            metadata.channel,
            metadata.mux,
            metadata.read_number,
            metadata.start_sample,
        ) == expected
        assert metadata.start_time() == datetime.datetime(2019, 1, 1, 0, 0, 2, tzinfo=datetime.UTC)


@needs_samtools
def test_a_read_file_without_metadata_is_called_with_fallbacks(
    tmp_path: Path, taiyaki_checkpoint: Path, shared_data: Path
) -> None:
    """A bare multi-read fast5 (signal and calibration only): the read is called, the
    run id is `unknown`, and channel, read number and start are left out, not made up."""
    source = next(iter_reads([next((shared_data / "taiyaki" / "reads").glob("*.fast5"))]))
    bare = tmp_path / "bare.fast5"
    with h5py.File(bare, "w") as handle:
        group = handle.create_group(f"read_{source.read_id}")
        group.create_group("Raw").create_dataset("Signal", data=source.raw[:6000])
        channel = group.create_group("channel_id")
        for key in ("digitisation", "offset", "range", "sampling_rate"):
            channel.attrs[key] = getattr(source, key)
    bam, fastq, summary = tmp_path / "c.bam", tmp_path / "c.fastq", tmp_path / "summary.txt"
    common = [str(taiyaki_checkpoint), str(bare), "--no-progress", "--model-name", "m"]
    assert main(["basecall", *common, "-o", str(bam), "--sequencing-summary", str(summary)]) == 0
    assert main(["basecall", *common, "-o", str(fastq)]) == 0
    (record,) = (line.split("\t") for line in _samtools("view", str(bam)))
    tags = _tags(record[11:])
    assert set(tags) == {"RG", "qs", "du", "fn"}
    assert tags["RG"] == "unknown_m"
    assert float(tags["du"]) == pytest.approx(6000 / 4000)
    assert fastq.read_text().splitlines()[0] == (
        f"@{source.read_id} runid=unknown basecall_model_version_id=m"
    )
    (row,) = _summary(summary)
    assert (row["run_id"], row["channel"], row["mux"], row["start_time"]) == ("unknown", "", "", "")
    assert int(row["sequence_length_template"]) == len(record[9])
