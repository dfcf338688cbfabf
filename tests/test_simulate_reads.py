"""Simulated R9.4.1 reads: truth table, fast5/pod5 read back by ONT's readers and nanopolish,
training chunks, determinism, and what the real pretrained basecaller makes of them."""

from __future__ import annotations

import shutil
import statistics
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from modelshrink.basecaller.compress.training_chunks import iter_training_chunks
from modelshrink.cli import main
from modelshrink.simulate.genome import read_fasta, reverse_complement
from modelshrink.simulate.truth import read_truth_table

GENOME_LENGTH = 20_000
COVERAGE = 2.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reference, truth variants, and ~20 reads of ~2 kb written in every output format."""
    folder = tmp_path_factory.mktemp("simulated")
    genome = ["genome", "-o", f"{folder}/ref.fa", "--length", str(GENOME_LENGTH), "--seed", "11"]
    variants = ["variants", "--reference", f"{folder}/ref.fa", "--vcf", f"{folder}/truth.vcf.gz"]
    variants += ["--sample-fasta", f"{folder}/sample.fa", "--snps", "20", "--indels", "10"]
    reads = ["reads", "--genome", f"{folder}/sample.fa", "--coverage", str(COVERAGE)]
    reads += ["--mean-length", "2000", "--length-sd", "800", "--min-length", "800", "--seed", "21"]
    reads += ["--fast5", f"{folder}/reads.fast5", "--pod5", f"{folder}/reads.pod5"]
    reads += ["--truth", f"{folder}/truth.tsv", "--chunks", f"{folder}/chunks.hdf5"]
    steps = [genome, variants, reads]
    for step in steps:
        assert main(["simulate", *step]) == 0
    return folder


def _fast5_signals(path: Path) -> dict[str, tuple[np.ndarray, dict]]:
    from ont_fast5_api.fast5_interface import get_fast5_file

    signals = {}
    with get_fast5_file(str(path), mode="r") as fast5:
        for read in fast5.get_reads():
            signals[read.read_id] = (read.get_raw_data(), read.get_channel_info())
    return signals


def test_truth_table_is_the_exact_source_sequence(dataset: Path) -> None:
    sample = read_fasta(dataset / "sample.fa")
    records = read_truth_table(dataset / "truth.tsv")
    assert len(records) >= 10
    assert {record.strand for record in records} == {"+", "-"}
    for record in records:
        source = sample[record.contig][record.start : record.end]
        expected = source if record.strand == "+" else reverse_complement(source)
        assert record.sequence == expected
        assert record.end - record.start >= 800
    assert sum(r.end - r.start for r in records) >= COVERAGE * len(sample["contig_1"])


def test_fast5_reads_back_with_ont_fast5_api(dataset: Path) -> None:
    truth = {record.read_id: record for record in read_truth_table(dataset / "truth.tsv")}
    signals = _fast5_signals(dataset / "reads.fast5")
    assert set(signals) == set(truth)
    for read_id, (raw, channel) in signals.items():
        assert raw.dtype == np.int16
        assert channel["digitisation"] == 8192.0 and channel["sampling_rate"] == 4000.0
        picoamps = (raw + channel["offset"]) * channel["range"] / channel["digitisation"]
        assert 70 < np.median(picoamps) < 110  # R9.4.1 DNA levels, not raw ADC units
        samples_per_base = len(raw) / len(truth[read_id].sequence)
        # 4000 Hz / 410 bases/s = 9.8, each read's speed off by a log-normal factor
        assert 7.5 < samples_per_base < 12.5


def test_pod5_holds_the_same_signal_and_calibration(dataset: Path) -> None:
    import pod5

    signals = _fast5_signals(dataset / "reads.fast5")
    with pod5.Reader(dataset / "reads.pod5") as reader:
        reads = {str(read.read_id): read for read in reader.reads()}
        assert set(reads) == set(signals)
        for read_id, read in reads.items():
            raw, channel = signals[read_id]
            np.testing.assert_array_equal(read.signal, raw)
            assert read.calibration.offset == channel["offset"]
            assert read.calibration.scale == pytest.approx(channel["range"] / 8192.0)
            assert read.run_info.sample_rate == 4000


def test_basecaller_readers_give_the_same_picoamps_from_fast5_and_pod5(dataset: Path) -> None:
    from modelshrink.basecaller.signal.fast5 import iter_fast5
    from modelshrink.basecaller.signal.pod5 import iter_pod5

    from_fast5 = {read.read_id: read for read in iter_fast5(dataset / "reads.fast5")}
    from_pod5 = {read.read_id: read for read in iter_pod5(dataset / "reads.pod5")}
    assert set(from_pod5) == set(from_fast5) and from_fast5
    for read_id, read in from_pod5.items():
        np.testing.assert_array_equal(read.raw, from_fast5[read_id].raw)
        np.testing.assert_allclose(read.picoamps(), from_fast5[read_id].picoamps())


@pytest.mark.skipif(shutil.which("nanopolish") is None, reason="nanopolish not on PATH")
def test_nanopolish_indexes_the_fast5(dataset: Path, tmp_path: Path) -> None:
    records = read_truth_table(dataset / "truth.tsv")
    fastq = tmp_path / "reads.fastq"
    fastq.write_text(
        "".join(f"@{r.read_id}\n{r.sequence}\n+\n{'5' * len(r.sequence)}\n" for r in records)
    )
    shutil.copy(dataset / "reads.fast5", tmp_path / "reads.fast5")
    subprocess.run(
        ["nanopolish", "index", "-d", str(tmp_path), str(fastq)], check=True, capture_output=True
    )
    readdb = Path(f"{fastq}.index.readdb").read_text().splitlines()
    mapping = dict(line.split("\t") for line in readdb)
    assert set(mapping) == {r.read_id for r in records}
    assert {Path(path).name for path in mapping.values()} == {"reads.fast5"}


def test_training_chunks_partition_each_reads_truth(dataset: Path) -> None:
    truth = {record.read_id: record.sequence for record in read_truth_table(dataset / "truth.tsv")}
    chunks = list(iter_training_chunks(dataset / "chunks.hdf5"))
    with h5py.File(dataset / "chunks.hdf5") as handle:
        assert handle.attrs["format"] == "modelshrink-training-chunks"
        assert handle.attrs["chunk_samples"] == 4000
        read_ids = [name.decode() for name in handle["read_id"][()]]
        starts = handle["chunk_start"][()]
    assert len(chunks) == len(read_ids) >= 20
    by_read: dict[str, list[np.ndarray]] = {}
    for (signal, sequence, chunk_id), read_id, start in zip(chunks, read_ids, starts, strict=True):
        assert chunk_id == read_id
        assert signal.dtype == np.float32 and signal.shape == (4000,)
        assert sequence.min() >= 0 and sequence.max() <= 3
        assert 300 < len(sequence) < 600  # 4000 samples at 9.8 samples per base = 410
        assert start % 4000 == 0
        by_read.setdefault(read_id, []).append(sequence)
    for read_id, pieces in by_read.items():
        covered = "".join("ACGT"[base] for base in np.concatenate(pieces))
        assert truth[read_id].startswith(covered)  # chunks partition the read from its start
    everything = np.concatenate([chunk.signal for chunk in chunks])
    assert abs(float(np.median(everything))) < 0.1


def test_reads_are_deterministic_for_a_seed(dataset: Path, tmp_path: Path) -> None:
    common = ["simulate", "reads", "--genome", str(dataset / "sample.fa"), "--coverage", "0.3"]
    common += ["--mean-length", "2000", "--min-length", "800"]
    for name, seed in (("a", "4"), ("b", "4"), ("c", "5")):
        assert main([*common, "--seed", seed, "--fast5", str(tmp_path / f"{name}.fast5")]) == 0
    a, b, c = (_fast5_signals(tmp_path / f"{name}.fast5") for name in "abc")
    assert list(a) == list(b) and set(a) != set(c)
    for read_id in a:
        np.testing.assert_array_equal(a[read_id][0], b[read_id][0])


def test_taiyaki_mapped_signal_chunks(shared_data: Path) -> None:
    path = shared_data / "taiyaki" / "mapped_signal" / "mapped_reads_0.hdf5"
    chunks = list(iter_training_chunks(path, chunk_samples=3000))
    assert len(chunks) >= 30  # two reads of 38 k and 73 k samples
    for signal, sequence, _ in chunks:
        assert signal.shape == (3000,) and signal.dtype == np.float32
        assert 200 < len(sequence) < 450 and set(np.unique(sequence)) <= {0, 1, 2, 3}
    assert abs(float(np.median(np.concatenate([c.signal for c in chunks])))) < 0.2
    assert {chunk.read_id for chunk in chunks} == {
        "302c746b-1b9e-4262-af6a-859bae0c00f8",
        "6dc84c3b-840b-4b04-a817-013a036695f8",
    }


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--coverage", "0"], "coverage must be > 0"),
        (["--mean-length", "-5"], "read lengths must be > 0"),
        (["--min-length", "50000"], "no stretch of pure ACGT sequence is long enough"),
        (["--dwell-shape", "0"], "dwell_shape must be > 0"),
        (["--noise-correlation", "0.99"], "noise_correlation must be < 0.95"),
        (["--noise-spread", "-1"], "noise_spread must be >= 0"),
        (["--pore-model", "/nonexistent/model.npz"], "model.npz does not exist"),
    ],
)
def test_bad_read_settings_fail_cleanly(
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    output = tmp_path / "out.fast5"
    arguments = ["simulate", "reads", "--genome", str(dataset / "sample.fa")]
    assert main([*arguments, "--fast5", str(output), *flags]) == 1
    assert message in capsys.readouterr().err
    assert not output.exists() and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_pretrained_model_calls_simulated_reads_at_realistic_identity(
    dataset: Path, taiyaki_checkpoint: Path, tmp_path: Path
) -> None:
    """Median identity where real R9.4.1 reads sit (0.87-0.91), and reads that differ in
    quality as real ones do (interquartile range of several points, not a fraction of one)."""
    from modelshrink.evaluate.identity import read_identity

    calls = tmp_path / "calls.fastq"
    arguments = ["basecall", str(taiyaki_checkpoint), str(dataset / "reads.fast5")]
    assert main([*arguments, "-o", str(calls), "--no-progress"]) == 0
    identities = [score.identity for score in read_identity(calls, dataset / "sample.fa")]
    assert len(identities) >= 20
    median = statistics.median(identities)
    quartiles = statistics.quantiles(identities, n=4)
    assert 0.86 <= median <= 0.93, median
    assert quartiles[2] - quartiles[0] >= 0.02, quartiles


def test_reads_avoid_n_runs_and_keep_pore_model_context() -> None:
    from modelshrink.simulate.reads import sample_layouts

    genome = {"c": "ACGT" * 300 + "N" * 200 + "TTGCA" * 300}
    layouts = sample_layouts(genome, 5.0, 300, 100, 100, 3, np.random.default_rng(3))
    assert {layout.strand for layout in layouts} == {"+", "-"}
    for layout in layouts:
        assert "N" not in genome["c"][layout.start - 3 : layout.end + 3]
        assert layout.end - layout.start >= 100
