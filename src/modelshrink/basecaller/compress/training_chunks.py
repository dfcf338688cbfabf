"""Training chunks for fine-tuning: normalised signal chunks with the exact bases they cover.

One reader, `iter_training_chunks(path)`, serves both kinds of file the compression
fine-tuning consumes, and yields `TrainingChunk(signal, sequence, read_id)`:

- `signal`: float32 [chunk_samples], normalised per read as the basecaller normalises
  (pA - median) / (1.4826 x MAD), in time order;
- `sequence`: int64 [n], the covered bases as 0..3 = A, C, G, T (in read orientation);
- `read_id`: the read the chunk was cut from.

A base belongs to the chunk in which its first sample lies (zero-length skipped bases
included), so consecutive chunks of one read partition its bases.

1. modelshrink chunk files (written by `simulate.chunk_writer.ChunkWriter`,
   `modelshrink simulate reads --chunks`):

   ```
   /                 attrs: format = "modelshrink-training-chunks", version = 1,
                            alphabet = "ACGT", chunk_samples = L, sampling_rate (Hz),
                            normalisation = "(pA - median) / (1.4826 * MAD) per read"
   /signal           float32 [N, L]  normalised signal chunks
   /bases            uint8   [B]     all chunks' covered bases, concatenated, 0..3 = ACGT
   /base_offsets     int64   [N + 1] chunk i covers bases[base_offsets[i]:base_offsets[i+1]]
   /read_id          str     [N]     source read (the truth table's read_id)
   /chunk_start      int64   [N]     first sample of the chunk within its read
   ```

   Each simulated read is cut into consecutive, non-overlapping chunks from sample 0;
   a trailing partial chunk is dropped so that every chunk has exactly L samples.

2. Taiyaki mapped-signal files (version 8, `../shared/data/taiyaki/mapped_signal/*.hdf5`):
   root attrs `alphabet`, `collapse_alphabet`, `version`; one group per read under
   `Reads/<read_id>` with attrs `digitisation`, `offset`, `range`, `shift_frompA`,
   `scale_frompA` and datasets `Dacs` (int16 raw), `Reference` (int16 alphabet indices)
   and `Ref_to_signal` (int32, len(Reference) + 1: where each reference base starts in
   `Dacs`, the last entry the end of the mapping). Normalised signal is
   ((Dacs + offset) x range / digitisation - shift_frompA) / scale_frompA (Taiyaki's
   shift/scale are the read's median and 1.4826 x MAD). Each read's mapped stretch
   [Ref_to_signal[0], Ref_to_signal[-1]) is cut into consecutive chunks of `chunk_samples`
   (default 4000, Taiyaki's basecall chunk), trailing partial chunk dropped. Modified-base
   alphabets are collapsed to ACGT through `collapse_alphabet`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from modelshrink.basecaller.compress.spec import DEFAULT_CHUNK_SAMPLES
from modelshrink.errors import ModelshrinkError

FORMAT_NAME = "modelshrink-training-chunks"
FORMAT_VERSION = 1
#: The run id of every simulated read (`modelshrink simulate`), which tells them apart
#: from real reads when both are offered for fine-tuning.
SIMULATED_RUN_ID = "modelshrinksimulated0000000000000000000000"[:40]


class TrainingChunk(NamedTuple):
    signal: np.ndarray
    sequence: np.ndarray
    read_id: str = ""


def cut_chunks(
    signal: np.ndarray, bases: np.ndarray, base_starts: np.ndarray, chunk_samples: int
) -> Iterator[tuple[int, TrainingChunk]]:
    """(chunk start, chunk) for consecutive whole chunks of a mapped stretch of signal.

    `base_starts[j]` is where base j starts in `signal`; its last entry (len(bases) + 1
    entries) is where the mapping ends.
    """
    begin, end = int(base_starts[0]), int(base_starts[-1])
    starts = base_starts[:-1]
    for start in range(begin, end - chunk_samples + 1, chunk_samples):
        first, last = np.searchsorted(starts, [start, start + chunk_samples], side="left")
        yield (
            start,
            TrainingChunk(
                signal[start : start + chunk_samples], bases[first:last].astype(np.int64)
            ),
        )


def stored_chunk_samples(path: str | Path) -> int | None:
    """The chunk length a modelshrink chunk file was cut to; None for a mapped-signal
    file (or anything else), which can be cut to any length."""
    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") == FORMAT_NAME:
                return int(handle.attrs["chunk_samples"])
    except OSError:
        return None  # iter_training_chunks reports unreadable files with context
    return None


def iter_training_chunks(
    path: str | Path, chunk_samples: int | None = None
) -> Iterator[TrainingChunk]:
    """Chunks of a modelshrink chunk file or a Taiyaki mapped-signal file (see module doc).

    `chunk_samples` cuts mapped-signal reads (default 4000); for a chunk file it must be
    None or equal to the stored length, since chunks there are already cut.
    """
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ModelshrinkError(f"cannot open training data {path} as HDF5: {error}") from error
    with handle:
        if handle.attrs.get("format") == FORMAT_NAME:
            yield from _chunk_file(path, handle, chunk_samples)
        elif "Reads" in handle and "version" in handle.attrs:
            yield from _mapped_signal(path, handle, chunk_samples or DEFAULT_CHUNK_SAMPLES)
        else:
            raise ModelshrinkError(
                f"{path} is neither a modelshrink chunk file (attr format={FORMAT_NAME!r}) "
                "nor a Taiyaki mapped-signal file (group Reads, attr version)"
            )


def _chunk_file(
    path: Path, handle: h5py.File, chunk_samples: int | None
) -> Iterator[TrainingChunk]:
    version = int(handle.attrs.get("version", -1))
    if version != FORMAT_VERSION:
        raise ModelshrinkError(f"{path}: chunk format version {version}, expected 1")
    stored = int(handle.attrs["chunk_samples"])
    if chunk_samples is not None and chunk_samples != stored:
        raise ModelshrinkError(
            f"{path} holds chunks of {stored} samples, but {chunk_samples} were asked for"
        )
    offsets = handle["base_offsets"][()]
    bases = handle["bases"][()].astype(np.int64)
    read_ids = [_text(read_id) for read_id in handle["read_id"][()]]
    signal = handle["signal"]
    block = 256
    for first in range(0, signal.shape[0], block):
        rows = signal[first : first + block]
        for index, row in enumerate(rows, start=first):
            yield TrainingChunk(row, bases[offsets[index] : offsets[index + 1]], read_ids[index])


def _mapped_signal(path: Path, handle: h5py.File, chunk_samples: int) -> Iterator[TrainingChunk]:
    version = int(handle.attrs["version"])
    if version != 8:
        raise ModelshrinkError(f"{path}: Taiyaki mapped-signal version {version}, expected 8")
    alphabet = _text(handle.attrs.get("alphabet", "ACGT"))
    collapse = _text(handle.attrs.get("collapse_alphabet", alphabet))
    if len(collapse) != len(alphabet) or set(collapse) - set("ACGT"):
        raise ModelshrinkError(
            f"{path}: collapse_alphabet {collapse!r} must map alphabet {alphabet!r} onto ACGT"
        )
    to_acgt = np.array(["ACGT".index(base) for base in collapse], dtype=np.int64)
    for read_id, group in handle["Reads"].items():
        try:
            attrs = group.attrs
            dacs = group["Dacs"][()].astype(np.float64)
            reference = to_acgt[group["Reference"][()].astype(np.int64)]
            ref_to_signal = group["Ref_to_signal"][()].astype(np.int64)
            picoamps = (dacs + attrs["offset"]) * (attrs["range"] / attrs["digitisation"])
            signal = ((picoamps - attrs["shift_frompA"]) / attrs["scale_frompA"]).astype(np.float32)
        except (KeyError, IndexError) as error:
            raise ModelshrinkError(
                f"{path}: read {read_id} lacks a mapped-signal field or has a bad base index "
                f"({error}); expected Dacs, Reference, Ref_to_signal and ADC/scaling attrs"
            ) from error
        if len(ref_to_signal) != len(reference) + 1:
            raise ModelshrinkError(
                f"{path}: read {read_id} Ref_to_signal has {len(ref_to_signal)} entries, "
                f"expected len(Reference) + 1 = {len(reference) + 1}"
            )
        for _, chunk in cut_chunks(signal, reference, ref_to_signal, chunk_samples):
            yield chunk._replace(read_id=read_id)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
