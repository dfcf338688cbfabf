"""Writing the demo's training chunks: each simulated read cut into chunk-file records.

The chunk-file layout and its reader belong to the basecaller family
(`modelshrink.basecaller.compress.training_chunks`); this is the simulator's writer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import h5py
import numpy as np

from modelshrink.basecaller.compress.training_chunks import FORMAT_NAME, FORMAT_VERSION, cut_chunks
from modelshrink.basecaller.signal.reads import med_mad_normalise
from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.reads import SimulatedRead
from modelshrink.simulate.signal import encode_bases
from modelshrink.simulate.sink import ReadSink


class ChunkWriter(ReadSink):
    """Cuts each simulated read into chunks and appends them to a chunk file (layout above)."""

    suffix = ".hdf5"

    def __init__(self, path: str | Path, chunk_samples: int, sampling_rate: float):
        if chunk_samples <= 0:
            raise ModelshrinkError(f"chunk_samples must be > 0, got {chunk_samples}")
        super().__init__(path)
        self.chunk_samples = chunk_samples
        self.sampling_rate = sampling_rate
        self.count = 0

    def _open(self, temporary: Path, stack: contextlib.ExitStack) -> None:
        self._file = stack.enter_context(h5py.File(temporary, "w"))
        attrs = self._file.attrs
        attrs["format"] = FORMAT_NAME
        attrs["version"] = FORMAT_VERSION
        attrs["alphabet"] = "ACGT"
        attrs["chunk_samples"] = self.chunk_samples
        attrs["sampling_rate"] = self.sampling_rate
        attrs["normalisation"] = "(pA - median) / (1.4826 * MAD) per read"
        length = self.chunk_samples
        create = self._file.create_dataset
        create("signal", (0, length), np.float32, maxshape=(None, length), chunks=(16, length))
        create("bases", (0,), np.uint8, maxshape=(None,), chunks=(65536,))
        create("base_offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(4096,))
        create("read_id", (0,), h5py.string_dtype(), maxshape=(None,), chunks=(4096,))
        create("chunk_start", (0,), np.int64, maxshape=(None,), chunks=(4096,))

    def add(self, read: SimulatedRead) -> None:
        signal = med_mad_normalise(read.signal.to_picoamps())
        bases = encode_bases(read.sequence).astype(np.uint8)
        pieces = list(cut_chunks(signal, bases, read.signal.base_starts, self.chunk_samples))
        if not pieces:
            return
        file = self._file
        n, offset = len(pieces), int(file["base_offsets"][-1])
        lengths = np.cumsum([len(chunk.sequence) for _, chunk in pieces])
        _append(file["signal"], np.stack([chunk.signal for _, chunk in pieces]))
        _append(file["bases"], np.concatenate([chunk.sequence for _, chunk in pieces]))
        _append(file["base_offsets"], offset + lengths)
        _append(file["read_id"], np.array([read.layout.read_id] * n, dtype=object))
        _append(file["chunk_start"], np.array([start for start, _ in pieces], np.int64))
        self.count += n


def _append(dataset: h5py.Dataset, values: np.ndarray) -> None:
    old = dataset.shape[0]
    dataset.resize(old + len(values), axis=0)
    dataset[old:] = values
