"""A folder of real R9.4.1 reads mixed with reads no basecaller can call, in every format.

Good reads are the real shared reads (their signal cut to 6000 samples to keep tests
fast); bad ones are real reads with a broken calibration or signal, or a repeated id.
The fast5 and pod5 files are written with the project's own simulation writers (the
MinKNOW layouts), the single-read fast5 files are copies of the shared ones.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from modelshrink.basecaller.signal.fast5 import iter_fast5
from modelshrink.basecaller.signal.reads import RawRead
from modelshrink.simulate.fast5_writer import Fast5Writer
from modelshrink.simulate.pod5_writer import Pod5Writer
from modelshrink.simulate.reads import ReadLayout, SimulatedRead
from modelshrink.simulate.signal import SimulatedSignal

GOOD_SAMPLES = 6000
SAMPLING_RATE = 4000.0


@dataclass(frozen=True)
class MixedReads:
    folder: Path
    good_ids: list[str]  # in the order the basecaller meets them
    skipped: dict[str, int]  # expected count per SkipReason value
    bad_ids: dict[str, str]  # read id -> what is wrong with it


def _simulated(
    read_id: str,
    raw: np.ndarray,
    calibration: RawRead,
    number: int,
    **changes: float,
) -> SimulatedRead:
    values = {
        "offset": calibration.offset,
        "digitisation": calibration.digitisation,
        "range_pa": calibration.range,
        **changes,
    }
    return SimulatedRead(
        layout=ReadLayout(read_id, "real", "+", 0, len(raw)),
        sequence="",
        signal=SimulatedSignal(raw=raw, base_starts=np.array([0, len(raw)]), **values),
        read_number=number,
        channel=1,
        mux=1,
        start_time=0,
        median_before=200.0,
    )


def _new_id(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelshrink-test/{label}"))


def _single_read_copy(source: Path, target: Path, **channel: float) -> str:
    """Copies a real single-read fast5, cutting its signal and overriding channel attributes."""
    shutil.copyfile(source, target)
    target.chmod(0o644)
    with h5py.File(target, "a") as handle:
        group = handle["Raw/Reads"][next(iter(handle["Raw/Reads"]))]
        signal = group["Signal"][:GOOD_SAMPLES]
        del group["Signal"]
        group.create_dataset("Signal", data=signal)
        for key, value in channel.items():
            handle["UniqueGlobalKey/channel_id"].attrs[key] = value
        return group.attrs["read_id"].decode()


def write_mixed_reads(shared_data: Path, folder: Path) -> MixedReads:
    """a_single/ (single-read fast5) < b_multi.fast5 < c_reads.pod5, in the basecaller's order."""
    sources = sorted((shared_data / "taiyaki" / "reads").glob("*.fast5"))
    real = [read for path in sources for read in iter_fast5(path)]
    single = folder / "a_single"
    single.mkdir(parents=True)
    good_single = _single_read_copy(sources[0], single / "good.fast5")
    zero_digitisation = _single_read_copy(sources[1], single / "zero.fast5", digitisation=0.0)

    cut = [read.raw[:GOOD_SAMPLES] for read in real]
    good_multi, good_pod5 = _new_id("good-multi"), _new_id("good-pod5")
    bad_ids = {
        zero_digitisation: "digitisation 0",
        _new_id("nan-range"): "NaN range",
        _new_id("inf-offset"): "infinite offset",
        _new_id("ten-samples"): "10-sample signal",
        _new_id("constant"): "constant signal",
        _new_id("nan-signal"): "NaN samples",
        _new_id("pod5-nan-range"): "NaN range (pod5)",
        _new_id("pod5-inf-offset"): "infinite offset (pod5)",
    }
    named = {label: read_id for read_id, label in bad_ids.items()}
    nan_signal = cut[3].astype(np.float64)
    nan_signal[100] = np.nan
    multi = [
        _simulated(good_multi, cut[2], real[2], 1),
        _simulated(named["NaN range"], cut[2], real[2], 2, range_pa=np.nan),
        _simulated(named["infinite offset"], cut[3], real[3], 3, offset=np.inf),
        _simulated(named["10-sample signal"], real[3].raw[:10], real[3], 4),
        _simulated(named["constant signal"], np.full(GOOD_SAMPLES, 500, np.int16), real[3], 5),
        _simulated(named["NaN samples"], nan_signal, real[3], 6),
        # the same id as the single-read file's good read: the first one is kept
        _simulated(good_single, cut[4], real[4], 7),
    ]
    with Fast5Writer(folder / "b_multi.fast5", SAMPLING_RATE) as writer:
        for read in multi:
            writer.add(read)
    pod5_reads = [
        _simulated(named["NaN range (pod5)"], cut[4], real[4], 8, range_pa=np.nan),
        _simulated(good_pod5, cut[4], real[4], 9),
        _simulated(named["infinite offset (pod5)"], cut[4], real[4], 10, offset=np.inf),
        _simulated(good_multi, cut[3], real[3], 11),  # a repeat of the multi-read file's id
    ]
    with Pod5Writer(folder / "c_reads.pod5", SAMPLING_RATE) as writer:
        for read in pod5_reads:
            writer.add(read)
    return MixedReads(
        folder=folder,
        good_ids=[good_single, good_multi, good_pod5],
        skipped={
            "bad_calibration": 5,
            "bad_signal": 1,
            "too_short": 1,
            "constant_signal": 1,
            "duplicate_id": 2,
        },
        bad_ids=bad_ids,
    )
