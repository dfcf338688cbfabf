"""Fine-tuning data: every usable chunk of the training files, served as seeded batches.

Why load everything up front: the sets fine-tuning uses are small (the shared
mapped-signal files hold ~120 chunks, a demo simulation a few hundred), and reading
them first means an empty or unusable training set is reported before any model is
touched. All chunks have the same length (`chunk_samples`), so any draw of chunks is
one batch tensor without padding the signal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.training_data import iter_training_chunks


@dataclass(frozen=True)
class TrainingBatch:
    """signal [samples, B, 1] (time-major, as the network wants it), bases [B, L] padded
    with 0 past each chunk's length, lengths [B]."""

    signal: torch.Tensor
    bases: torch.Tensor
    lengths: torch.Tensor


@dataclass(frozen=True)
class TrainingSet:
    signals: np.ndarray  # float32 [N, chunk_samples]
    sequences: tuple[np.ndarray, ...]  # int64 bases 0..3 per chunk
    skipped: int  # chunks dropped because no flip-flop path could spell them

    def __len__(self) -> int:
        return len(self.sequences)

    def batch(self, indices: Sequence[int]) -> TrainingBatch:
        chosen = [self.sequences[i] for i in indices]
        lengths = torch.tensor([len(seq) for seq in chosen])
        bases = torch.zeros(len(chosen), int(lengths.max()), dtype=torch.long)
        for row, seq in enumerate(chosen):
            bases[row, : len(seq)] = torch.from_numpy(seq)
        signal = torch.from_numpy(self.signals[list(indices)]).T[:, :, None].contiguous()
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


def load_training_set(paths: Sequence[Path], chunk_samples: int, stride: int) -> TrainingSet:
    """Chunks of `chunk_samples` samples from Taiyaki mapped-signal files and simulator
    chunk files. A chunk is kept when the network's chunk_samples / stride output steps
    can spell its bases (1 to one base per step, the CRF loss's condition)."""
    if not paths:
        raise ModelshrinkError("fine-tuning needs training data: give --training FILE ...")
    steps = chunk_samples // stride
    signals: list[np.ndarray] = []
    sequences: list[np.ndarray] = []
    skipped = 0
    for path in paths:
        if not Path(path).is_file():
            raise ModelshrinkError(f"training data {path} does not exist")
        for chunk in iter_training_chunks(path, chunk_samples):
            if 1 <= len(chunk.sequence) <= steps and len(chunk.signal) == chunk_samples:
                signals.append(np.asarray(chunk.signal, dtype=np.float32))
                sequences.append(np.asarray(chunk.sequence, dtype=np.int64))
            else:
                skipped += 1
    if not sequences:
        names = ", ".join(str(path) for path in paths)
        raise ModelshrinkError(
            f"no usable training chunk of {chunk_samples} samples in {names} ({skipped} "
            f"chunks skipped: they need 1 to {steps} bases); expected Taiyaki mapped-signal "
            f"or modelshrink chunk files with reads longer than one chunk"
        )
    return TrainingSet(np.stack(signals), tuple(sequences), skipped)
