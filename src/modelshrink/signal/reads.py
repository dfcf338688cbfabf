"""A raw read as the basecaller needs it, independent of the file format it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class RawRead:
    """Raw ADC samples plus the channel calibration that turns them into picoamps;
    `run_id` (MinKNOW's run id, "" when the file has none) tells simulated reads apart."""

    read_id: str
    raw: np.ndarray
    digitisation: float
    offset: float
    range: float
    sampling_rate: float
    source: Path
    run_id: str = ""

    def picoamps(self) -> np.ndarray:
        """pA = (raw + offset) * range / digitisation, in float64 as Taiyaki computes it."""
        return (self.raw + self.offset) * (self.range / self.digitisation)


def med_mad_normalise(signal: np.ndarray) -> np.ndarray:
    """(signal - median) / (1.4826 * MAD), float32: Taiyaki's per-read standardisation."""
    median = np.median(signal)
    mad = MAD_TO_SD * np.median(np.abs(signal - median))
    if mad == 0:
        mad = 1.0
    return ((signal - median) / mad).astype(np.float32)
