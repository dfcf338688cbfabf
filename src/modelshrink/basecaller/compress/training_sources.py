"""Where fine-tuning's signal comes from: labelled chunk files or raw reads, real or simulated.

Three kinds of training path, told apart without asking the user:

- Taiyaki mapped-signal HDF5: real reads with the reference bases they were mapped to
  (labelled, real);
- modelshrink chunk HDF5 (`modelshrink simulate reads --chunks`): labelled, simulated;
- raw reads, fast5/pod5 files or folders of them: no labels, so they serve only the
  objectives that need none (distillation from the original, OBS calibration); real
  unless `modelshrink simulate` wrote them (its run id).

Why raw reads at all: distillation learns the original's outputs, not labels, so any
real reads will do, and real reads are what a user has. Labels from the simulator
describe the simulator: a network tuned on them gains on simulated reads and loses on
real ones (issue 12). Raw reads are normalised and cut as the basecaller does it:
picoamps, median/MAD over the whole read, consecutive chunks from sample 0, the last
one ending at the read's end; reads shorter than one chunk give none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from modelshrink.basecaller.basecall import chunk_boundaries
from modelshrink.basecaller.compress.training_chunks import (
    SIMULATED_RUN_ID,
    iter_training_chunks,
    stored_chunk_samples,
)
from modelshrink.basecaller.signal.discover import READ_SUFFIXES, find_read_files, iter_reads
from modelshrink.basecaller.signal.reads import UncallableReadError, med_mad_normalise
from modelshrink.errors import ModelshrinkError

log = logging.getLogger(__name__)

REAL, SIMULATED = "real", "simulated"
#: what a model learned from no data
UNTUNED = "none"


def origin_label(origins: Iterable[str]) -> str:
    """real, simulated, real+simulated, or none for no data."""
    chosen = set(origins)
    return "+".join(origin for origin in (REAL, SIMULATED) if origin in chosen) or UNTUNED


def label_origins(label: str) -> set[str]:
    """The origins an origin_label names (none: no origin)."""
    return {origin for origin in label.split("+") if origin in (REAL, SIMULATED)}


class SourceChunk(NamedTuple):
    """One chunk of normalised signal; `sequence` None for raw reads (no labels)."""

    signal: np.ndarray
    sequence: np.ndarray | None
    read_id: str
    origin: str  # REAL or SIMULATED


def is_raw_reads(path: Path) -> bool:
    """A folder or a .fast5/.pod5 file: raw reads without labels (no file is opened)."""
    return Path(path).is_dir() or Path(path).suffix in READ_SUFFIXES


def refuse_unlabelled(paths: Sequence[Path], where: str) -> None:
    """Objectives that train on labels (crf, mixed) cannot use raw reads; say so before
    any work, naming the reads and what to give instead."""
    raw = [str(path) for path in paths if is_raw_reads(path)]
    if raw:
        raise ModelshrinkError(
            f"{where} trains on labels, but {', '.join(raw)} are raw reads without them; "
            f"give Taiyaki mapped-signal files (training.mapped_signal) or use "
            f"objective: distill, which learns from the original and needs no labels"
        )


def iter_source_chunks(path: Path, chunk_samples: int) -> Iterator[SourceChunk]:
    """The chunks of one training path, of exactly `chunk_samples` samples each."""
    path = Path(path)
    if is_raw_reads(path):
        yield from _raw_read_chunks(path, chunk_samples)
        return
    if not path.is_file():
        raise ModelshrinkError(f"training data {path} does not exist")
    origin = SIMULATED if stored_chunk_samples(path) is not None else REAL
    for chunk in iter_training_chunks(path, chunk_samples):
        yield SourceChunk(chunk.signal, chunk.sequence, chunk.read_id, origin)


def _raw_read_chunks(path: Path, chunk_samples: int) -> Iterator[SourceChunk]:
    for read in iter_reads(find_read_files([path])):
        if isinstance(read, UncallableReadError):
            log.warning("training reads: skipped %s", read)
            continue
        if len(read.raw) < chunk_samples:
            continue
        signal = med_mad_normalise(read.picoamps())
        if not np.isfinite(signal).all():  # constant or broken signal: nothing to learn
            log.warning("training reads: skipped %s in %s (signal not finite)", read.read_id, path)
            continue
        origin = SIMULATED if read.run_id == SIMULATED_RUN_ID else REAL
        starts, ends = chunk_boundaries(len(signal), chunk_samples, 0)
        for start, end in zip(starts, ends, strict=True):
            yield SourceChunk(signal[start:end], None, read.read_id, origin)


def training_read_ids(paths: Iterable[Path]) -> set[str]:
    """Every read id in the training paths, cheaply where the format allows (HDF5
    files list them; raw reads are read), to keep evaluation reads out of training."""
    found: set[str] = set()
    for path in map(Path, paths):
        if is_raw_reads(path):
            found.update(
                read.read_id
                for read in iter_reads(find_read_files([path]))
                if not isinstance(read, UncallableReadError)
            )
            continue
        with h5py.File(path, "r") as handle:
            if "Reads" in handle:
                found.update(handle["Reads"])
            elif "read_id" in handle:
                found.update(_text(value) for value in np.unique(handle["read_id"][()]))
    return found


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
