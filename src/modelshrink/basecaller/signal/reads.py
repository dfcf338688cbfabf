"""A raw read as the basecaller needs it, independent of the file format it came from."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from modelshrink.basecaller.signal.metadata import ReadMetadata

MAD_TO_SD = 1.4826
#: 0.25 s at R9.4.1's 4 kHz, about 110 bases at 450 bases/s: shorter reads come out as a
#: few junk bases that minimap2 cannot place, so they add noise and no evidence.
MIN_CALLABLE_SAMPLES = 1000


class SkipReason(StrEnum):
    """Why a read was not basecalled; the basecall summary counts reads per reason."""

    UNREADABLE = "unreadable"
    BAD_CALIBRATION = "bad_calibration"
    BAD_SIGNAL = "bad_signal"
    TOO_SHORT = "too_short"
    CONSTANT_SIGNAL = "constant_signal"
    DUPLICATE_ID = "duplicate_id"
    NO_BASES = "no_bases"


class UncallableReadError(Exception):
    """One read (or a whole file) cannot be called; the caller counts it, warns and goes on."""

    def __init__(
        self,
        source: Path,
        read_id: str | None,
        reason: str,
        kind: SkipReason = SkipReason.UNREADABLE,
    ) -> None:
        self.source, self.read_id, self.reason, self.kind = source, read_id, reason, kind
        where = f"read {read_id} in {source}" if read_id else f"{source}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class RawRead:
    """Raw ADC samples plus the channel calibration that turns them into picoamps;
    `run_id` (MinKNOW's run id, "" when the file has none) tells simulated reads apart;
    channel, mux, read number and start (None when the file has none) only go to the
    basecall output (see `metadata`).

    Construction refuses a calibration that cannot give picoamps (digitisation 0, NaN or
    infinite values): such a read would otherwise reach the network as NaNs and come out
    as an empty or junk basecall that looks like a real one.
    """

    read_id: str
    raw: np.ndarray
    digitisation: float
    offset: float
    range: float
    sampling_rate: float
    source: Path
    run_id: str = ""
    channel: int | None = None
    mux: int | None = None
    read_number: int | None = None
    start_sample: int | None = None
    run_start: datetime.datetime | None = None

    def __post_init__(self) -> None:
        problem = calibration_problem(self.digitisation, self.offset, self.range)
        if problem:
            raise UncallableReadError(
                self.source, self.read_id, problem, SkipReason.BAD_CALIBRATION
            )

    def picoamps(self) -> np.ndarray:
        """pA = (raw + offset) * range / digitisation, in float64 as Taiyaki computes it."""
        return (self.raw + self.offset) * (self.range / self.digitisation)

    def metadata(self) -> ReadMetadata:
        return ReadMetadata(
            self.source,
            self.run_id,
            self.sampling_rate,
            self.channel,
            self.mux,
            self.read_number,
            self.start_sample,
            self.run_start,
        )


def calibration_problem(digitisation: float, offset: float, range_pa: float) -> str | None:
    """What is wrong with a channel calibration, or None when it maps ADC units to pA."""
    values = {"digitisation": digitisation, "offset": offset, "range": range_pa}
    broken = [f"{name} {value}" for name, value in values.items() if not math.isfinite(value)]
    if broken:
        return "calibration is not finite (" + ", ".join(broken) + ")"
    if digitisation <= 0 or range_pa <= 0:
        return f"calibration needs digitisation and range > 0, got {digitisation} and {range_pa}"
    if not math.isfinite(range_pa / digitisation):
        return f"calibration range / digitisation overflows ({range_pa} / {digitisation})"
    return None


def median_mad(signal: np.ndarray) -> tuple[float, float]:
    """Median and MAD scaled to a normal standard deviation (1.4826 x median |x - median|)."""
    median = float(np.median(signal))
    return median, MAD_TO_SD * float(np.median(np.abs(signal - median)))


def med_mad_normalise(signal: np.ndarray) -> np.ndarray:
    """(signal - median) / (1.4826 * MAD), float32: Taiyaki's per-read standardisation."""
    median, mad = median_mad(signal)
    if mad == 0:
        mad = 1.0
    return ((signal - median) / mad).astype(np.float32)
