"""fast5 (single, multi, VBZ) and pod5 reading, written here from the real reads."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from read_fixtures import write_mixed_reads

from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.signal.fast5 import iter_fast5
from modelshrink.basecaller.signal.reads import (
    RawRead,
    SkipReason,
    UncallableReadError,
    calibration_problem,
    med_mad_normalise,
)
from modelshrink.errors import ModelshrinkError

VBZ_FILTER = 32020


@pytest.fixture(scope="module")
def real_reads(shared_data: Path) -> list[RawRead]:
    return [
        r
        for p in sorted((shared_data / "taiyaki" / "reads").glob("*.fast5"))
        for r in iter_fast5(p)
    ]


def test_single_and_multi_read_fast5_agree(shared_data: Path, real_reads: list[RawRead]) -> None:
    multi = list(iter_fast5(next((shared_data / "taiyaki" / "multireads").glob("*.fast5"))))
    assert len(real_reads) == len(multi) == 5
    by_id = {r.read_id: r for r in multi}
    for read in real_reads:
        assert np.array_equal(read.raw, by_id[read.read_id].raw)
        assert read.digitisation == 8192.0


def test_picoamps_use_channel_calibration(real_reads: list[RawRead]) -> None:
    read = real_reads[0]
    expected = (read.raw[:10].astype(float) + read.offset) * read.range / read.digitisation
    assert np.allclose(read.picoamps()[:10], expected)
    assert 60 < np.median(read.picoamps()) < 120  # R9.4.1 reads sit around 90 pA


def test_normalisation_is_median_mad() -> None:
    signal = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    normalised = med_mad_normalise(signal)
    assert normalised.dtype == np.float32
    assert normalised[2] == 0.0
    assert normalised[3] == pytest.approx(1 / 1.4826)


def _write_multi_fast5(path: Path, reads: list[RawRead], compression=None) -> None:
    with h5py.File(path, "w") as handle:
        handle.attrs["file_version"] = b"2.2"
        for read in reads:
            group = handle.create_group(f"read_{read.read_id}")
            raw = group.create_group("Raw")
            raw.attrs["read_id"] = read.read_id.encode()
            raw.create_dataset("Signal", data=read.raw, compression=compression)
            channel = group.create_group("channel_id")
            for key in ("digitisation", "offset", "range", "sampling_rate"):
                channel.attrs[key] = getattr(read, key)


def test_vbz_compressed_fast5_reads_back(tmp_path: Path, real_reads: list[RawRead]) -> None:
    path = tmp_path / "vbz.fast5"
    _write_multi_fast5(path, real_reads, compression=VBZ_FILTER)
    with h5py.File(path) as handle:
        assert str(VBZ_FILTER) in handle[f"read_{real_reads[0].read_id}/Raw/Signal"]._filters
    back = list(iter_fast5(path))
    assert [r.read_id for r in back] == [r.read_id for r in real_reads]
    assert all(np.array_equal(a.raw, b.raw) for a, b in zip(back, real_reads, strict=True))


def test_corrupt_files_and_reads_are_reported_not_raised(
    tmp_path: Path, real_reads: list[RawRead]
) -> None:
    garbage = tmp_path / "garbage.fast5"
    garbage.write_bytes(b"not hdf5 at all")
    damaged = tmp_path / "damaged.fast5"
    _write_multi_fast5(damaged, real_reads[:2])
    with h5py.File(damaged, "a") as handle:
        del handle[f"read_{real_reads[1].read_id}/channel_id"]
    results = list(iter_reads([garbage, damaged]))
    assert isinstance(results[0], UncallableReadError) and "garbage.fast5" in str(results[0])
    assert isinstance(results[1], RawRead)
    assert isinstance(results[2], UncallableReadError) and real_reads[1].read_id in str(results[2])


def test_find_read_files(tmp_path: Path, shared_data: Path) -> None:
    found = find_read_files([shared_data / "taiyaki"])
    assert len(found) == 6
    with pytest.raises(ModelshrinkError, match="does not exist"):
        find_read_files([tmp_path / "nowhere"])
    with pytest.raises(ModelshrinkError, match=r"no \.fast5 or \.pod5 files"):
        find_read_files([tmp_path])


def test_readers_refuse_broken_calibration_and_samples_in_every_format(
    tmp_path: Path, shared_data: Path
) -> None:
    mixed = write_mixed_reads(shared_data, tmp_path / "reads")
    results = list(iter_reads(find_read_files([mixed.folder])))
    refused = {r.read_id: r for r in results if isinstance(r, UncallableReadError)}
    expected_kinds = {
        "digitisation 0": SkipReason.BAD_CALIBRATION,  # single-read fast5
        "NaN range": SkipReason.BAD_CALIBRATION,  # multi-read fast5
        "infinite offset": SkipReason.BAD_CALIBRATION,
        "NaN samples": SkipReason.BAD_SIGNAL,
        "NaN range (pod5)": SkipReason.BAD_CALIBRATION,
        "infinite offset (pod5)": SkipReason.BAD_CALIBRATION,
    }
    labels = {read_id: label for read_id, label in mixed.bad_ids.items()}
    assert {labels[read_id]: error.kind for read_id, error in refused.items()} == expected_kinds
    by_label = {labels[read_id]: error for read_id, error in refused.items()}
    assert "zero.fast5" in str(by_label["digitisation 0"])
    assert "got 0.0" in str(by_label["digitisation 0"])
    assert "range nan" in str(by_label["NaN range (pod5)"]) and "c_reads.pod5" in str(
        by_label["NaN range (pod5)"]
    )
    assert "1 NaN/inf samples" in str(by_label["NaN samples"])
    # short, constant and repeated reads are readable; judging them is the basecaller's job
    assert len(results) - len(refused) == 7  # 3 good, 2 repeats, 1 short, 1 constant


def test_calibration_problems_are_named() -> None:
    assert calibration_problem(8192.0, 10.0, 1455.6) is None
    assert calibration_problem(0.0, 10.0, 1455.6) == (
        "calibration needs digitisation and range > 0, got 0.0 and 1455.6"
    )
    assert calibration_problem(8192.0, -np.inf, np.nan) == (
        "calibration is not finite (offset -inf, range nan)"
    )
    assert "overflows" in calibration_problem(1e-300, 0.0, 1e300)
