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


def _read_from_groups(source: Path, signal: h5py.Dataset, raw_attrs, channel) -> RawRead:
    read_id = _text(raw_attrs["read_id"])
    try:
        return RawRead(
            read_id=read_id,
            raw=np.asarray(signal[()], dtype=np.int16),
            digitisation=float(channel.attrs["digitisation"]),
            offset=float(channel.attrs["offset"]),
            range=float(channel.attrs["range"]),
            sampling_rate=float(channel.attrs["sampling_rate"]),
            source=source,
        )
    except (KeyError, OSError, ValueError, TypeError) as error:
        raise CorruptReadError(
            source, read_id, f"unreadable signal or calibration ({error})"
        ) from error


def iter_fast5(path: Path) -> Iterator[RawRead | CorruptReadError]:
    """Yields every read of a fast5 file, or a CorruptReadError for each one that fails."""
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        yield CorruptReadError(path, None, f"not a readable HDF5/fast5 file ({error})")
        return
    with handle:
        if "UniqueGlobalKey" in handle and "Raw/Reads" in handle:
            groups = [
                (handle["Raw/Reads"][name], handle["UniqueGlobalKey/channel_id"])
                for name in handle["Raw/Reads"]
            ]
            for group, channel in groups:
                yield _guarded(
                    path,
                    group.attrs.get("read_id"),
                    lambda g=group, c=channel: _read_from_groups(path, g["Signal"], g.attrs, c),
                )
            return
        for name in handle:
            if not name.startswith("read_"):
                continue
            group = handle[name]
            yield _guarded(
                path,
                name[len("read_") :],
                lambda g=group: _read_from_groups(
                    path, g["Raw/Signal"], g["Raw"].attrs, g["channel_id"]
                ),
            )


def _guarded(path: Path, read_id: object, load) -> RawRead | CorruptReadError:
    try:
        return load()
    except CorruptReadError as error:
        return error
    except (KeyError, OSError, ValueError, TypeError) as error:
        name = _text(read_id) if read_id is not None else None
        return CorruptReadError(path, name, f"missing or damaged HDF5 groups ({error})")
