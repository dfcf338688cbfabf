"""End-to-end basecalling of the five real R9.4.1 reads."""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pysam
import pytest
from read_fixtures import write_mixed_reads

from modelshrink.basecaller.basecall import (
    BasecallSettings,
    chunk_boundaries,
    read_mean_qscore,
    stitch,
)
from modelshrink.cli import main
from modelshrink.errors import ModelshrinkError

# Taiyaki 5.3 basecall.py on these reads (TAIYAKI_FACTS.md): identities of the three that map.
TAIYAKI_IDENTITIES = {
    "0f776a08-1101-41d4-8097-89136494a46e": 0.853,
    "db6b45aa-5d21-45cf-a435-05fb8f12e839": 0.917,
    "de1508c4-755b-489e-9ffb-51af35c9a7e6": 0.872,
}


def _fastq(path: Path) -> dict[str, tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = handle.read().split("\n")
    # the header is the read id, then key=value fields (ont_records.fastq_header)
    return {
        lines[i][1:].split()[0]: (lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 1, 4)
    }


def _summary(path: Path) -> dict[str, str]:
    header, row = (line.split("\t") for line in path.read_text().splitlines())
    return dict(zip(header, row, strict=True))


def _best_identities(calls: Path, reference: Path) -> dict[str, float]:
    """matches / alignment columns of each read's best primary minimap2 hit."""
    paf = subprocess.run(
        ["minimap2", "-x", "map-ont", "-c", "--secondary=no", str(reference), str(calls)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    best: dict[str, float] = {}
    for line in paf.splitlines():
        fields = line.split("\t")
        best[fields[0]] = max(best.get(fields[0], 0.0), int(fields[9]) / int(fields[10]))
    return best


@pytest.fixture(scope="module")
def calls(
    tmp_path_factory: pytest.TempPathFactory, converted_model: Path, shared_data: Path
) -> Path:
    output = tmp_path_factory.mktemp("calls") / "calls.fastq"
    reads = shared_data / "taiyaki" / "reads"
    assert (
        main(["basecall", str(converted_model), str(reads), "-o", str(output), "--no-progress"])
        == 0
    )
    return output


@pytest.mark.skipif(shutil.which("minimap2") is None, reason="minimap2 not installed")
def test_real_reads_reach_taiyaki_identity(calls: Path, shared_data: Path) -> None:
    identities = _best_identities(calls, shared_data / "taiyaki" / "genomic_reference.fasta")
    assert set(identities) == set(TAIYAKI_IDENTITIES)
    for read_id, expected in TAIYAKI_IDENTITIES.items():
        assert identities[read_id] == pytest.approx(expected, abs=0.0015)
    # Taiyaki's median is quoted to three decimals (0.872)
    assert round(statistics.median(identities.values()), 3) >= 0.872


def test_fastq_has_five_reads_with_matching_qualities(calls: Path) -> None:
    records = _fastq(calls)
    assert len(records) == 5
    for sequence, qualities in records.values():
        assert len(sequence) == len(qualities) > 1000
        assert set(sequence) <= set("ACGT")


def test_batching_threads_and_file_layout_do_not_change_calls(
    tmp_path: Path, converted_model: Path, shared_data: Path, calls: Path
) -> None:
    multi = next((shared_data / "taiyaki" / "multireads").glob("*.fast5"))
    other = tmp_path / "other.fastq.gz"
    args = ["basecall", str(converted_model), str(multi), "-o", str(other), "--no-progress"]
    assert main([*args, "--batch-size", "3", "--threads", "2"]) == 0
    expected = {k: v[0] for k, v in _fastq(calls).items()}
    assert {k: v[0] for k, v in _fastq(other).items()} == expected


def test_many_workers_emit_every_read_once_in_order(
    tmp_path: Path, converted_model: Path, shared_data: Path, calls: Path
) -> None:
    output, summary = tmp_path / "calls.fastq", tmp_path / "summary.tsv"
    reads = str(shared_data / "taiyaki" / "reads")
    args = ["basecall", str(converted_model), reads, reads, "-o", str(output), "--no-progress"]
    assert main([*args, "--batch-size", "1", "--threads", "4", "--summary", str(summary)]) == 0
    names = [line[1:].split()[0] for line in output.read_text().splitlines()[::4]]
    assert names == list(_fastq(calls))  # the second copy of each read id is skipped
    assert _summary(summary)["skipped_duplicate_id"] == "5"


def test_unaligned_bam_keeps_read_ids(
    tmp_path: Path, converted_model: Path, shared_data: Path, calls: Path
) -> None:
    bam = tmp_path / "calls.bam"
    reads = shared_data / "taiyaki" / "reads"
    assert (
        main(["basecall", str(converted_model), str(reads), "-o", str(bam), "--no-progress"]) == 0
    )
    with pysam.AlignmentFile(str(bam), check_sq=False) as handle:
        records = {r.query_name: r.query_sequence for r in handle}
    assert records == {k: v[0] for k, v in _fastq(calls).items()}


def test_corrupt_read_is_skipped_and_counted(
    tmp_path: Path, converted_model: Path, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reads = tmp_path / "reads"
    shutil.copytree(shared_data / "taiyaki" / "reads", reads)
    victim = sorted(reads.glob("*.fast5"))[0]
    victim.write_bytes(victim.read_bytes()[:2000])
    summary = tmp_path / "summary.tsv"
    output = tmp_path / "calls.fasta"
    code = main(
        [
            "basecall",
            str(converted_model),
            str(reads),
            "-o",
            str(output),
            "--no-progress",
            "--summary",
            str(summary),
        ]
    )
    assert code == 0
    assert output.read_text().count(">") == 4
    counts = _summary(summary)
    assert (counts["reads"], counts["skipped"], counts["skipped_unreadable"]) == ("4", "1", "1")
    assert counts["execution_path"] == "float32-fused"  # the compiled GRU kernel ran
    assert 3 < float(counts["median_read_qscore"]) < 20
    assert victim.name in caplog.text


def test_nothing_readable_fails_with_one_line(
    tmp_path: Path, converted_model: Path, capsys
) -> None:
    bad = tmp_path / "bad.fast5"
    bad.write_bytes(b"junk")
    output = tmp_path / "calls.fastq"
    assert (
        main(["basecall", str(converted_model), str(bad), "-o", str(output), "--no-progress"]) == 1
    )
    assert "no read could be basecalled" in capsys.readouterr().err
    assert not output.exists()


def test_missing_or_bad_model_gets_one_clear_line(
    tmp_path: Path, shared_data: Path, capsys
) -> None:
    reads = str(shared_data / "taiyaki" / "reads")
    assert main(["basecall", str(tmp_path / "none.safetensors"), reads, "--no-progress"]) == 1
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a model")
    assert main(["basecall", str(junk), reads, "--no-progress"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "junk.safetensors" in error[0]


def test_chunking_and_stitching_follow_taiyaki() -> None:
    starts, ends = chunk_boundaries(10000, 4000, 400)
    assert ends.tolist() == [4000, 7600, 10000]
    assert starts.tolist() == [0, 3600, 6000]
    assert chunk_boundaries(1234, 4000, 400)[1].tolist() == [1234]
    pieces = [np.arange(1001) + 1000 * i for i in range(3)]
    stitched = stitch(pieces, starts, ends, 4)
    # first chunk [0, 950), middle [50, 800), last [200, 1000)
    assert len(stitched) == 950 + 750 + 800
    assert stitched[949] == 949 and stitched[950] == 1050 and stitched[-1] == 2999


def test_read_mean_qscore_averages_error_probabilities_not_phred() -> None:
    assert read_mean_qscore("+++") == pytest.approx(10.0)  # '+' is Q10
    # Q10 and Q30: mean error (0.1 + 0.001) / 2 -> Q12.97, not the Phred mean of 20
    assert read_mean_qscore("+?") == pytest.approx(-10 * np.log10(0.0505))


def _killed_basecall_leaves_temporary(model: Path, output: Path, tmp_path: Path) -> Path:
    """Runs `modelshrink basecall` into `output` and SIGKILLs it while its output is open.

    The first reads "file" is a FIFO: the basecall opens its output, then blocks opening the
    FIFO until this side opens it for writing, so the kill always lands mid-run.
    """
    blocking = tmp_path / "blocking"
    blocking.mkdir()
    fifo = blocking / "read.fast5"
    os.mkfifo(fifo)
    cli = "import sys; from modelshrink.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", cli, "basecall", str(model), str(blocking)]
    process = subprocess.Popen(
        [*command, "-o", str(output), "--no-progress"], stderr=subprocess.PIPE
    )
    writer = None
    while writer is None and process.poll() is None:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:  # ENXIO: the basecall has not opened its reads yet
            assert error.errno == errno.ENXIO
            time.sleep(0.02)
    assert writer is not None, process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    os.close(writer)
    process.stderr.close()
    (left,) = output.parent.glob(f".{output.name}.*.tmp.gz")
    return left


def test_bad_reads_are_skipped_counted_and_named(
    tmp_path: Path, converted_model: Path, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mixed = write_mixed_reads(shared_data, tmp_path / "reads")
    output, summary = tmp_path / "out" / "calls.fastq.gz", tmp_path / "summary.tsv"
    output.parent.mkdir()
    left = _killed_basecall_leaves_temporary(converted_model, output, tmp_path)
    args = ["basecall", str(converted_model), str(mixed.folder), "-o", str(output)]
    assert main([*args, "--no-progress", "--summary", str(summary), "--threads", "1"]) == 0
    assert list(_fastq(output)) == mixed.good_ids
    assert all(len(sequence) > 200 for sequence, _ in _fastq(output).values())
    counts = _summary(summary)
    assert counts["reads"] == "3" and counts["skipped"] == "10"
    reasons = {key[len("skipped_") :]: int(v) for key, v in counts.items() if "skipped_" in key}
    assert {reason: n for reason, n in reasons.items() if n} == mixed.skipped
    for read_id in mixed.bad_ids:
        assert read_id in caplog.text
    assert f"read id already called from {mixed.folder / 'a_single' / 'good.fast5'}" in caplog.text
    assert "10 samples, fewer than the 1000 needed" in caplog.text
    assert "constant signal" in caplog.text
    # the SIGKILLed run's hidden temporary file is gone, nothing else is beside the output
    assert not left.exists()
    assert [p.name for p in output.parent.iterdir()] == ["calls.fastq.gz"]


def test_no_callable_read_fails_with_counts_and_leaves_no_output(
    tmp_path: Path, converted_model: Path, shared_data: Path, capsys
) -> None:
    mixed = write_mixed_reads(shared_data, tmp_path / "reads")
    output, summary = tmp_path / "out" / "calls.fastq.gz", tmp_path / "out" / "summary.tsv"
    # a_single holds good.fast5 (6000 samples, too short here) and zero.fast5 (digitisation 0)
    bad = str(mixed.folder / "a_single")
    args = ["basecall", str(converted_model), bad, "-o", str(output), "--no-progress"]
    assert main([*args, "--summary", str(summary), "--min-samples", "6001"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("modelshrink basecall: error: no read could be basecalled")
    assert "skipped: 1 too_short, 1 bad_calibration" in error
    assert list(output.parent.iterdir()) == []


@pytest.mark.parametrize(("chunk", "overlap"), [(100, 100), (100, 150), (100, -1)])
def test_overlap_must_be_shorter_than_the_chunk(
    chunk: int, overlap: int, converted_model: Path, shared_data: Path, capsys
) -> None:
    with pytest.raises(ModelshrinkError, match="overlap_steps"):
        BasecallSettings(chunk_steps=chunk, overlap_steps=overlap)
    reads = str(shared_data / "taiyaki" / "reads")
    sizes = ["--chunk-size", str(chunk), f"--overlap={overlap}"]
    assert main(["basecall", str(converted_model), reads, *sizes, "--no-progress"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--overlap" in error[0] and "--chunk-size" in error[0]
