"""pod5 reading through ONT's `pod5` package."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from modelshrink.basecaller.signal.reads import RawRead, UncallableReadError


def _aware(start: datetime.datetime) -> datetime.datetime:
    """pod5 stores UTC; some writers hand back naive datetimes."""
    return start if start.tzinfo else start.replace(tzinfo=datetime.UTC)


def iter_pod5(path: Path) -> Iterator[RawRead | UncallableReadError]:
    """Yields every read of a pod5 file, or a UncallableReadError for each one that fails."""
    import pod5

    try:
        reader = pod5.Reader(path)
    except Exception as error:  # pod5 raises bare Exceptions/arrow errors for damaged files
        yield UncallableReadError(path, None, f"not a readable pod5 file ({error})")
        return
    with reader:
        records = reader.reads()
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as error:
                yield UncallableReadError(path, None, f"damaged pod5 record batch ({error})")
                return
            read_id = str(record.read_id)
            try:
                calibration = record.calibration
                digitisation = float(record.run_info.adc_max - record.run_info.adc_min + 1)
                yield RawRead(
                    read_id=read_id,
                    raw=np.asarray(record.signal, dtype=np.int16),
                    digitisation=digitisation,
                    offset=float(calibration.offset),
                    range=float(calibration.scale) * digitisation,
                    sampling_rate=float(record.run_info.sample_rate),
                    source=path,
                    run_id=str(record.run_info.acquisition_id),
                    channel=int(record.pore.channel),
                    mux=int(record.pore.well),
                    read_number=int(record.read_number),
                    start_sample=int(record.start_sample),
                    run_start=_aware(record.run_info.acquisition_start_time),
                )
            except UncallableReadError as skipped:
                yield skipped
            except Exception as error:
                yield UncallableReadError(path, read_id, f"unreadable signal ({error})")
