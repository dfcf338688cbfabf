"""Fine-tuning data: every usable chunk of the training paths, served as seeded batches.

Why load everything up front: the sets fine-tuning uses are small (the shared
mapped-signal files hold ~120 chunks, a demo simulation a few hundred), and reading
them first means an empty or unusable training set is reported before any model is
touched. All chunks have the same length (`chunk_samples`), so any draw of chunks is
one batch tensor without padding the signal. A large set of raw reads is read only up
to MAX_CHUNKS chunks (in path and read order), more than any demo-sized run draws.

A set is labelled (the CRF objective's bases) or not (distillation, OBS calibration:
raw reads serve, and labels in the files are not needed). Its `origin` says whether
the signal is real, simulated or both: the report marks variants tuned on simulated
signal, which fits the simulator rather than real pores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modelshrink.basecaller.compress.training_sources import (
    REAL,
    iter_source_chunks,
    origin_label,
    refuse_unlabelled,
)
from modelshrink.errors import ModelshrinkError

#: at most this many chunks are loaded (~128 MB of 4000-sample chunks)
MAX_CHUNKS = 8192


@dataclass(frozen=True)
class TrainingBatch:
    """signal [samples, B, 1] (time-major, as the network wants it); for a labelled set
    also bases [B, L] padded with 0 past each chunk's length and lengths [B]."""

    signal: torch.Tensor
    bases: torch.Tensor | None
    lengths: torch.Tensor | None


@dataclass(frozen=True)
class TrainingSet:
    signals: np.ndarray  # float32 [N, chunk_samples]
    sequences: tuple[np.ndarray, ...] | None  # int64 bases 0..3 per chunk; None: unlabelled
    skipped: int  # chunks dropped because no flip-flop path could spell them
    read_ids: frozenset[str] = frozenset()  # the reads the chunks come from
    origins: frozenset[str] = frozenset({REAL})  # REAL and/or SIMULATED (training_sources)

    def __len__(self) -> int:
        return len(self.signals)

    @property
    def labelled(self) -> bool:
        return self.sequences is not None

    @property
    def origin(self) -> str:
        """What the network is fitted to: real, simulated or real+simulated."""
        return origin_label(self.origins)

    def summary(self, paths: Sequence[Path]) -> dict[str, object]:
        """The compress report's `training` entry."""
        return {
            "tuned_on": self.origin,
            "labelled": self.labelled,
            "sources": [str(path) for path in paths],
            "reads": len(self.read_ids),
            "chunks": len(self),
            "chunk_samples": int(self.signals.shape[1]),
        }

    def batch(self, indices: Sequence[int]) -> TrainingBatch:
        signal = torch.from_numpy(self.signals[list(indices)]).T[:, :, None].contiguous()
        if self.sequences is None:
            return TrainingBatch(signal, None, None)
        chosen = [self.sequences[i] for i in indices]
        lengths = torch.tensor([len(seq) for seq in chosen])
        bases = torch.zeros(len(chosen), int(lengths.max()), dtype=torch.long)
        for row, seq in enumerate(chosen):
            bases[row, : len(seq)] = torch.from_numpy(seq)
        return TrainingBatch(signal, bases, lengths)

    def batches(self, batch_size: int, seed: int) -> Iterator[TrainingBatch]:
        """Endless seeded batches: shuffled passes over the set, `batch_size` chunks each
        (the whole set when it is smaller)."""
        rng = np.random.default_rng(seed)
        size = min(batch_size, len(self))
        order: list[int] = []
        while True:
            if len(order) < size:
                order += rng.permutation(len(self)).tolist()
            yield self.batch(order[:size])
            order = order[size:]


def load_training_set(
    paths: Sequence[Path],
    chunk_samples: int,
    stride: int,
    labelled: bool = True,
    max_chunks: int = MAX_CHUNKS,
) -> TrainingSet:
    """Chunks of `chunk_samples` samples from the training paths (training_sources).

    `labelled`: keep the bases and only chunks the network's chunk_samples / stride
    output steps can spell (1 to one base per step, the CRF loss's condition); raw reads
    are refused. Unlabelled: every whole chunk of every path, labels ignored.
    """
    if not paths:
        raise ModelshrinkError("fine-tuning needs training data: give --training FILE ...")
    if labelled:
        refuse_unlabelled(paths, "a labelled training set")
    steps = chunk_samples // stride
    signals: list[np.ndarray] = []
    sequences: list[np.ndarray] = []
    read_ids: set[str] = set()
    origins: set[str] = set()
    skipped = 0
    chunks = (chunk for path in paths for chunk in iter_source_chunks(path, chunk_samples))
    for chunk in chunks:
        if len(signals) == max_chunks:
            break
        if len(chunk.signal) != chunk_samples or (
            labelled and not 1 <= len(chunk.sequence) <= steps
        ):
            skipped += 1
            continue
        signals.append(np.asarray(chunk.signal, dtype=np.float32))
        if labelled:
            sequences.append(np.asarray(chunk.sequence, dtype=np.int64))
        read_ids.add(chunk.read_id)
        origins.add(chunk.origin)
    if not signals:
        names = ", ".join(str(path) for path in paths)
        need = f"they need 1 to {steps} bases" if labelled else "reads shorter than a chunk"
        raise ModelshrinkError(
            f"no usable training chunk of {chunk_samples} samples in {names} ({skipped} "
            f"chunks skipped: {need}); expected Taiyaki mapped-signal or modelshrink chunk "
            f"files, or fast5/pod5 reads, longer than one chunk"
        )
    return TrainingSet(
        np.stack(signals),
        tuple(sequences) if labelled else None,
        skipped,
        frozenset(read_ids),
        frozenset(origins),
    )
