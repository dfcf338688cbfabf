"""Batched, chunked flip-flop basecalling of raw reads, faithful to Taiyaki's basecall.py.

Per read (docs/TAIYAKI_FACTS.md): signal in pA, median/MAD standardisation, chunks of
`chunk_size` samples overlapping by `overlap`, the network, posterior decoding and
Viterbi per chunk, paths stitched at the overlap midpoints, a base wherever the state
changes. What differs is only how the work is scheduled: chunks of many reads share
one network call, and `threads` batches run side by side (each single-threaded, which
on small GEMMs beats one batch on several threads).

A read that cannot be called (unreadable, bad calibration, non-finite, too short or
constant signal, an id already called, no base called) is skipped with a warning naming
its file and id, and counted per reason in `Basecaller.skipped`; Taiyaki would crash on
some of these and turn the others into junk or empty records.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modelshrink.basecaller.flipflop import (
    POSTERIOR_FLOOR,
    path_to_sequence,
    transition_posteriors,
    viterbi,
)
from modelshrink.basecaller.model_file import execution_path
from modelshrink.basecaller.network import FlipFlopNetwork
from modelshrink.basecaller.signal.metadata import ReadMetadata
from modelshrink.basecaller.signal.reads import (
    MIN_CALLABLE_SAMPLES,
    RawRead,
    SkipReason,
    UncallableReadError,
    median_mad,
)
from modelshrink.errors import ModelshrinkError

log = logging.getLogger(__name__)

DEFAULT_CHUNK_STEPS = 1000
DEFAULT_OVERLAP_STEPS = 100
ERRPROB_FLOOR = 1e-10
MAX_QSCORE = 50


@dataclass(frozen=True)
class BasecallSettings:
    """Chunk size and overlap are in network output steps, as in Taiyaki (x stride = samples)."""

    chunk_steps: int = DEFAULT_CHUNK_STEPS
    overlap_steps: int = DEFAULT_OVERLAP_STEPS
    batch_size: int = 128
    threads: int = 1
    device: str = "cpu"
    qscore_scale: float = 1.0
    qscore_offset: float = 0.0
    min_samples: int = MIN_CALLABLE_SAMPLES

    def __post_init__(self) -> None:
        for name, flag in (
            ("chunk_steps", "--chunk-size"),
            ("batch_size", "--batch-size"),
            ("threads", "--threads"),
            ("min_samples", "--min-samples"),
        ):
            if getattr(self, name) < 1:
                raise ModelshrinkError(
                    f"basecall {name} ({flag}) must be at least 1, got {getattr(self, name)}"
                )
        if not 0 <= self.overlap_steps < self.chunk_steps:
            raise ModelshrinkError(
                f"basecall overlap_steps (--overlap) must be between 0 and chunk_steps "
                f"(--chunk-size) - 1, got overlap {self.overlap_steps} with chunk "
                f"{self.chunk_steps}"
            )


@dataclass
class Basecall:
    """`moves` has one 0/1 per network step, 1 where a base was emitted (Dorado's move
    table without its leading stride); `metadata` is the read's run, channel and start."""

    read_id: str
    sequence: str
    qualities: str
    samples: int
    moves: np.ndarray
    metadata: ReadMetadata


@dataclass
class _PendingRead:
    read_id: str
    source: Path
    samples: int
    starts: np.ndarray
    ends: np.ndarray
    metadata: ReadMetadata
    paths: list[np.ndarray | None] = field(default_factory=list)
    errprobs: list[np.ndarray | None] = field(default_factory=list)

    def complete(self) -> bool:
        return all(p is not None for p in self.paths)


def chunk_boundaries(length: int, chunk: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Taiyaki's chunk starts and ends in samples; a short read is one chunk of its own length."""
    if length < chunk:
        return np.array([0]), np.array([length])
    ends = np.arange(chunk, length, chunk - overlap, dtype=np.int64)
    ends = np.concatenate([ends, [length]])
    return ends - chunk, ends


def stitch(
    pieces: list[np.ndarray], starts: np.ndarray, ends: np.ndarray, stride: int
) -> np.ndarray:
    """Keeps each chunk's steps up to the midpoint of its overlaps (Taiyaki's stitch_chunks)."""
    if len(pieces) == 1:
        return pieces[0]
    kept = [pieces[0][: (ends[0] + starts[1]) // (2 * stride)]]
    for i in range(1, len(pieces) - 1):
        first = (ends[i - 1] - starts[i]) // (2 * stride)
        last = (ends[i] + starts[i + 1] - 2 * starts[i]) // (2 * stride)
        kept.append(pieces[i][first:last])
    first = (ends[-2] - starts[-1]) // (2 * stride)
    kept.append(pieces[-1][first : (ends[-1] - starts[-1]) // stride])
    return np.concatenate(kept)


def error_probabilities(posteriors: torch.Tensor, path: np.ndarray, nbase: int) -> np.ndarray:
    """1 - P(base emitted at each step is the path's base), Taiyaki's qscore definition.

    Returned with the path's shape [T + 1, B]; row 0 is unused (the path's first state
    never emits a base).
    """
    nsteps, batch, _ = posteriors.shape
    into_base = torch.zeros(posteriors.shape[2], nbase)
    for base in range(nbase):
        into_base[2 * nbase * base : 2 * nbase * (base + 1), base] = 1
        into_base[2 * nbase * nbase + base, base] = 1
        into_base[2 * nbase * nbase + nbase + base, base] = 1
    base_probs = (posteriors @ into_base).numpy()
    base_probs /= base_probs.sum(2, keepdims=True) + ERRPROB_FLOOR
    errprobs = np.ones((nsteps + 1, batch), dtype=np.float32)
    chosen = path[1:] % nbase
    errprobs[1:] = 1 - np.take_along_axis(base_probs, chosen[:, :, None], 2)[:, :, 0]
    return errprobs


def quality_string(errprobs: np.ndarray, scale: float, offset: float) -> str:
    qscores = scale * -10 * np.log10(np.maximum(errprobs, ERRPROB_FLOOR)) + offset
    return (np.clip(qscores, 0, MAX_QSCORE) + 33.5).astype(np.uint8).tobytes().decode()


def read_mean_qscore(qualities: str) -> float:
    """A read's quality as basecallers summarise it: the Phred score of its mean error
    probability (not the mean Phred score, which rewards a few very confident bases)."""
    phred = np.frombuffer(qualities.encode(), dtype=np.uint8).astype(np.float64) - 33
    return float(-10 * np.log10(np.mean(10 ** (-phred / 10))))


class Basecaller:
    """Calls reads with one network; not thread-safe itself, it runs its own worker threads."""

    def __init__(self, network: FlipFlopNetwork, settings: BasecallSettings) -> None:
        self.network = network.to(settings.device).eval()
        self.settings = settings
        #: which kernels run the GRUs, e.g. int8-avx2 (model_file.execution_path)
        self.execution_path = execution_path(self.network, settings.device)
        self.stride = network.stride
        self.nbase = len(network.alphabet)
        self.chunk = settings.chunk_steps * self.stride
        self.overlap = settings.overlap_steps * self.stride
        self.skipped: Counter[SkipReason] = Counter()
        self._called_from: dict[str, Path] = {}  # read id -> file it was first taken from

    def _decode_batch(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network + posterior decoding of [samples, B] chunks -> paths and error probs [T+1, B]."""
        with torch.inference_mode():
            signal = torch.from_numpy(chunks)[:, :, None].to(self.settings.device)
            scores = self.network(signal).float().cpu()
            posteriors = transition_posteriors(scores)
            paths = viterbi(torch.log(posteriors + POSTERIOR_FLOOR))
            return paths, error_probabilities(posteriors, paths, self.nbase)

    def _skip(self, skipped: UncallableReadError) -> None:
        log.warning("skipping %s", skipped)
        self.skipped[skipped.kind] += 1

    def _normalised_signal(self, read: RawRead) -> np.ndarray:
        """The read's standardised signal; UncallableReadError when it cannot give a basecall."""
        first = self._called_from.get(read.read_id)
        if first is not None:
            raise UncallableReadError(
                read.source,
                read.read_id,
                f"read id already called from {first}",
                SkipReason.DUPLICATE_ID,
            )
        if len(read.raw) < self.settings.min_samples:
            raise UncallableReadError(
                read.source,
                read.read_id,
                f"{len(read.raw)} samples, fewer than the {self.settings.min_samples} needed",
                SkipReason.TOO_SHORT,
            )
        picoamps = read.picoamps()
        if not np.isfinite(picoamps).all():
            raise UncallableReadError(
                read.source, read.read_id, "signal in pA is not finite", SkipReason.BAD_SIGNAL
            )
        median, mad = median_mad(picoamps)
        if mad == 0:
            raise UncallableReadError(
                read.source,
                read.read_id,
                f"constant signal (most samples are {median:.1f} pA, MAD 0)",
                SkipReason.CONSTANT_SIGNAL,
            )
        return ((picoamps - median) / mad).astype(np.float32)

    def _batches(self, reads: Iterable[RawRead | UncallableReadError]):
        """Groups chunks of consecutive reads into equal-length batches for the network."""
        pending: list[tuple[_PendingRead, int]] = []
        arrays: list[np.ndarray] = []
        for read in reads:
            if isinstance(read, UncallableReadError):
                self._skip(read)
                continue
            try:
                signal = self._normalised_signal(read)
            except UncallableReadError as skipped:
                self._skip(skipped)
                continue
            self._called_from[read.read_id] = read.source
            starts, ends = chunk_boundaries(len(signal), self.chunk, self.overlap)
            entry = _PendingRead(
                read.read_id,
                read.source,
                len(signal),
                starts,
                ends,
                read.metadata(),
                [None] * len(starts),
                [None] * len(starts),
            )
            if len(signal) < self.chunk:
                yield [(entry, 0)], signal[:, None]
                continue
            for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
                pending.append((entry, index))
                arrays.append(signal[start:end])
                if len(pending) == self.settings.batch_size:
                    yield pending, np.stack(arrays, 1)
                    pending, arrays = [], []
        if pending:
            yield pending, np.stack(arrays, 1)

    def _run(self, batch):
        slots, chunks = batch
        paths, errprobs = self._decode_batch(chunks)
        for column, (entry, index) in enumerate(slots):
            entry.paths[index] = paths[:, column]
            entry.errprobs[index] = errprobs[:, column]
        return slots

    def call(self, reads: Iterable[RawRead | UncallableReadError]) -> Iterator[Basecall]:
        """Basecalls in input order; reads that cannot be called are logged, skipped and
        counted per reason in `skipped`."""
        workers = max(1, self.settings.threads) if self.settings.device == "cpu" else 1
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1 if self.settings.device == "cpu" else previous_threads)
        order: deque[_PendingRead] = deque()
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for slots in _bounded_map(pool, self._run, self._batches(reads), 2 * workers):
                    # A read enters the queue with its first chunk; other workers may
                    # finish its later chunks first, so membership cannot be inferred.
                    order.extend(entry for entry, index in slots if index == 0)
                    while order and order[0].complete():
                        yield from self._finish(order.popleft())
        finally:
            torch.set_num_threads(previous_threads)
        for entry in order:
            yield from self._finish(entry)

    def _finish(self, entry: _PendingRead) -> Iterator[Basecall]:
        """The read's basecall, or nothing (counted as skipped) if the network called no base."""
        path = stitch(entry.paths, entry.starts, entry.ends, self.stride)
        errprobs = stitch(entry.errprobs, entry.starts, entry.ends, self.stride)
        sequence = path_to_sequence(path, self.network.alphabet)
        moves = (path[1:] != path[:-1]).astype(np.uint8)
        moved = np.flatnonzero(moves) + 1
        qualities = quality_string(
            errprobs[moved], self.settings.qscore_scale, self.settings.qscore_offset
        )
        if not sequence:
            self._skip(
                UncallableReadError(
                    entry.source, entry.read_id, "no base called", SkipReason.NO_BASES
                )
            )
            return
        yield Basecall(entry.read_id, sequence, qualities, entry.samples, moves, entry.metadata)


def _bounded_map(
    pool: ThreadPoolExecutor, function: Callable, items: Iterable, ahead: int
) -> Iterator:
    """Like pool.map, in order, but never more than `ahead` items in flight (bounded memory)."""
    in_flight: deque[Future] = deque()
    for item in items:
        in_flight.append(pool.submit(function, item))
        if len(in_flight) >= ahead:
            yield in_flight.popleft().result()
    while in_flight:
        yield in_flight.popleft().result()
