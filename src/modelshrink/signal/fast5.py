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

from modelshrink.signal.reads import RawRead


class CorruptReadError(Exception):
    """One read (or a whole file) cannot be read; the caller skips it and goes on."""

    def __init__(self, source: Path, read_id: str | None, reason: str) -> None:
        self.source, self.read_id, self.reason = source, read_id, reason
        where = f"read {read_id} in {source}" if read_id else f"{source}"
        super().__init__(f"{where}: {reason}")


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


def _run_id(handle: h5py.File, group: str) -> str:
    """A multi-read file's read group carries run_id, a single-read file's tracking_id."""
    if group not in handle:
        return ""
    return _text(handle[group].attrs.get("run_id", b""))


def _load_read(
    handle: h5py.File, source: Path, location: tuple[str, str, str, str, str]
) -> RawRead:
    read_id, signal, attributes, channel_group, tracking_group = location
    channel = handle[channel_group].attrs
    return RawRead(
        read_id=_text(handle[attributes].attrs.get("read_id", read_id)),
        raw=np.asarray(handle[signal][()], dtype=np.int16),
        digitisation=float(channel["digitisation"]),
        offset=float(channel["offset"]),
        range=float(channel["range"]),
        sampling_rate=float(channel["sampling_rate"]),
        source=source,
        run_id=_run_id(handle, tracking_group),
    )


def iter_fast5(path: Path) -> Iterator[RawRead | CorruptReadError]:
    """Yields every read of a fast5 file, or a CorruptReadError for each one that fails."""
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        yield CorruptReadError(path, None, f"not a readable HDF5/fast5 file ({error})")
        return
    with handle:
        try:
            locations = list(_read_locations(handle))
        except (KeyError, OSError, ValueError) as error:
            yield CorruptReadError(path, None, f"damaged fast5 layout ({error})")
            return
        for location in locations:
            try:
                yield _load_read(handle, path, location)
            except (KeyError, OSError, ValueError, TypeError) as error:
                yield CorruptReadError(
                    path, location[0], f"unreadable signal or calibration ({error})"
                )
