"""Single- and multi-read fast5 (HDF5) reading, VBZ-compressed files included.

h5py is used directly (rather than ont-fast5-api) because the basecaller only needs the
raw signal and channel calibration, and a corrupt read must be skippable on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import vbz_h5py_plugin  # noqa: F401  (registers the VBZ HDF5 filter with h5py on import)

from modelshrink.basecaller.signal.metadata import optional_int, parse_run_start
from modelshrink.basecaller.signal.reads import RawRead, SkipReason, UncallableReadError

INT16 = np.iinfo(np.int16)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_locations(handle: h5py.File) -> Iterator[tuple[str, str, str, str, str]]:
    """(read id, signal dataset, group holding read attrs, channel group, tracking group)
    per read.

    Single-read files keep the signal under Raw/Reads/Read_N and the channel and
    tracking ids in UniqueGlobalKey; multi-read files have one read_<id> group per read.
    """
    if "UniqueGlobalKey" in handle and "Raw/Reads" in handle:
        for name in handle["Raw/Reads"]:
            group = f"Raw/Reads/{name}"
            read_id = _text(handle[group].attrs.get("read_id", name))
            yield (
                read_id,
                f"{group}/Signal",
                group,
                "UniqueGlobalKey/channel_id",
                "UniqueGlobalKey/tracking_id",
            )
        return
    for name in handle:
        if name.startswith("read_"):
            read_id = name[len("read_") :]
            yield read_id, f"{name}/Raw/Signal", f"{name}/Raw", f"{name}/channel_id", name


def _adc_samples(samples: np.ndarray, source: Path, read_id: str) -> np.ndarray:
    """The stored signal as int16 ADC units; a float dataset with NaN/inf, or values beyond
    int16, would otherwise be cast silently into garbage samples."""
    if samples.ndim != 1 or samples.dtype.kind not in "iuf":
        raise UncallableReadError(
            source, read_id, f"signal is {samples.dtype} of shape {samples.shape}, expected 1-D"
        )
    if samples.dtype.kind == "f" and not np.isfinite(samples).all():
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise UncallableReadError(
            source, read_id, f"signal has {bad} NaN/inf samples", SkipReason.BAD_SIGNAL
        )
    if samples.size and (samples.min() < INT16.min or samples.max() > INT16.max):
        raise UncallableReadError(
            source, read_id, "signal has samples beyond the int16 ADC range", SkipReason.BAD_SIGNAL
        )
    return samples.astype(np.int16)


def _tracking_attribute(handle: h5py.File, group: str, name: str) -> str:
    """run_id sits in a multi-read file's read group and in tracking_id; exp_start_time
    only in tracking_id (a multi-read file's `<read group>/tracking_id`)."""
    for candidate in (group, f"{group}/tracking_id"):
        if candidate in handle and name in handle[candidate].attrs:
            return _text(handle[candidate].attrs[name])
    return ""


def _load_read(
    handle: h5py.File, source: Path, location: tuple[str, str, str, str, str]
) -> RawRead:
    read_id, signal, attributes, channel_group, tracking_group = location
    channel = handle[channel_group].attrs
    read_attributes = handle[attributes].attrs
    read_id = _text(read_attributes.get("read_id", read_id))
    return RawRead(
        read_id=read_id,
        raw=_adc_samples(np.asarray(handle[signal][()]), source, read_id),
        digitisation=float(channel["digitisation"]),
        offset=float(channel["offset"]),
        range=float(channel["range"]),
        sampling_rate=float(channel["sampling_rate"]),
        source=source,
        run_id=_tracking_attribute(handle, tracking_group, "run_id"),
        channel=optional_int(channel.get("channel_number")),
        mux=optional_int(read_attributes.get("start_mux")),
        read_number=optional_int(read_attributes.get("read_number")),
        start_sample=optional_int(read_attributes.get("start_time")),
        run_start=parse_run_start(_tracking_attribute(handle, tracking_group, "exp_start_time")),
    )


def iter_fast5(path: Path) -> Iterator[RawRead | UncallableReadError]:
    """Yields every read of a fast5 file, or a UncallableReadError for each one that fails."""
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        yield UncallableReadError(path, None, f"not a readable HDF5/fast5 file ({error})")
        return
    with handle:
        try:
            locations = list(_read_locations(handle))
        except (KeyError, OSError, ValueError) as error:
            yield UncallableReadError(path, None, f"damaged fast5 layout ({error})")
            return
        for location in locations:
            try:
                yield _load_read(handle, path, location)
            except UncallableReadError as skipped:
                yield skipped
            except (KeyError, OSError, ValueError, TypeError) as error:
                yield UncallableReadError(
                    path, location[0], f"unreadable signal or calibration ({error})"
                )
