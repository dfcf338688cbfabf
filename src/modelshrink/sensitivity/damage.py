"""How much a changed basecaller loses: on real labelled chunks and on a fixed set of reads.

Chunks (Taiyaki mapped-signal, real signal with its reference bases) give two smooth
measures per chunk step: the flip-flop CRF loss of the true bases and the KL divergence
of the changed network's path distribution from the original's (`compress.crf_loss`).
Reads give the measure users budget in: Wick read identity (`evaluate.identity`) of
basecalls of a fixed subset, each read cut to its first `read_samples` samples so the
subset can hold more reads for the same work. Its mean over the reads (not the median:
with a handful of reads the median jumps from one read to the next) is compared with the
original's, in percentage points.

Why layer inputs are cached: a change to sublayer k leaves everything before it as it
was, so the chunks resume from the original's input to k, which halves the average work
of a scan that changes one tensor at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modelshrink.basecaller.basecall import Basecaller, BasecallSettings
from modelshrink.basecaller.compress.crf_loss import flipflop_kl, flipflop_nll
from modelshrink.basecaller.compress.training_set import TrainingBatch, load_training_set
from modelshrink.basecaller.network import Architecture, FlipFlopNetwork, build_network
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.signal.reads import RawRead, UncallableReadError
from modelshrink.errors import ModelshrinkError
from modelshrink.evaluate.identity import read_identity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DamageSettings:
    """How much data the damage is measured on (the scan's cost grows with all three)."""

    chunks: int = 24
    chunk_samples: int = 2000
    reads: int = 8
    read_samples: int = 20000

    def __post_init__(self) -> None:
        for name in ("chunks", "chunk_samples", "reads", "read_samples"):
            if getattr(self, name) < 1:
                raise ModelshrinkError(f"sensitivity {name}: must be at least 1")


@dataclass(frozen=True)
class Damage:
    """Measures of one changed network; `identity_loss_points` > 0 is a loss."""

    crf_loss: float
    crf_loss_change: float
    kl_divergence: float
    read_identity: float
    identity_loss_points: float


def sublayer_index(name: str) -> int:
    """`sublayers.3.layer.cudnn_gru.weight_ih_l0` -> 3."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "sublayers" or not parts[1].isdigit():
        raise ModelshrinkError(f"{name}: expected a basecaller parameter named sublayers.N....")
    return int(parts[1])


def evaluation_chunks(
    paths: Sequence[Path], settings: DamageSettings, stride: int
) -> TrainingBatch:
    """`settings.chunks` labelled chunks spread evenly over all chunks of the files (so
    every read contributes), as one batch."""
    chunks = load_training_set(list(paths), settings.chunk_samples, stride, labelled=True)
    count = min(settings.chunks, len(chunks))
    return chunks.batch(np.linspace(0, len(chunks) - 1, count).round().astype(int).tolist())


def read_subset(paths: Sequence[Path], settings: DamageSettings) -> list[RawRead]:
    """The first `settings.reads` callable reads, each cut to `settings.read_samples`."""
    chosen: list[RawRead] = []
    for read in iter_reads(find_read_files(list(paths))):
        if len(chosen) == settings.reads:
            break
        if isinstance(read, UncallableReadError):
            continue
        chosen.append(dataclasses.replace(read, raw=read.raw[: settings.read_samples]))
    if not chosen:
        names = ", ".join(map(str, paths))
        raise ModelshrinkError(f"no callable read in {names}; the scan needs fast5/pod5 reads")
    return chosen


class DamageMeter:
    """The original's outputs on the chunks and reads, and the damage of any change to it."""

    def __init__(
        self,
        architecture: Architecture,
        tensors: Mapping[str, torch.Tensor],
        chunks: TrainingBatch,
        reads: Sequence[RawRead],
        reference: Path,
    ) -> None:
        self.architecture = architecture
        self.tensors = dict(tensors)
        self.chunks = chunks
        self.reads = list(reads)
        self.reference = Path(reference)
        network = self.network(self.tensors)
        self.layer_inputs = self._layer_inputs(network)
        with torch.inference_mode():
            self.scores = network.sublayers[-1](self.layer_inputs[-1])
        self.crf_loss = self._crf_loss(self.scores)
        self.identities = self.read_identities(network)
        self.read_identity = statistics.fmean(self.identities)

    def network(self, tensors: Mapping[str, torch.Tensor]) -> FlipFlopNetwork:
        return build_network(self.architecture, tensors).eval()

    def _layer_inputs(self, network: FlipFlopNetwork) -> list[torch.Tensor]:
        inputs, x = [], self.chunks.signal
        with torch.inference_mode():
            for layer in network.sublayers:
                inputs.append(x)
                x = layer(x)
        return inputs

    def _crf_loss(self, scores: torch.Tensor) -> float:
        return float(flipflop_nll(scores, self.chunks.bases, self.chunks.lengths))

    def read_identities(self, network: FlipFlopNetwork) -> list[float]:
        """Wick identity of each subset read's basecall (0 for a read not called)."""
        calls = {
            call.read_id: call.sequence
            for call in Basecaller(network, BasecallSettings(threads=1)).call(self.reads)
        }
        with tempfile.TemporaryDirectory(prefix="modelshrink-sensitivity-") as folder:
            fasta = Path(folder) / "calls.fasta"
            fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in calls.items()))
            scores = {s.name: s.identity for s in read_identity(fasta, self.reference)}
        return [scores.get(read.read_id, 0.0) for read in self.reads]

    def measure(self, tensors: Mapping[str, torch.Tensor], first_changed: int = 0) -> Damage:
        """Damage of the network with `tensors`; sublayers before `first_changed` must be
        the original's (their cached outputs are reused)."""
        network = self.network(tensors)
        x = self.layer_inputs[first_changed]
        with torch.inference_mode():
            for layer in network.sublayers[first_changed:]:
                x = layer(x)
            crf_loss = self._crf_loss(x)
            kl = float(flipflop_kl(x, self.scores))
        identity = statistics.fmean(self.read_identities(network))
        return Damage(
            crf_loss,
            crf_loss - self.crf_loss,
            kl,
            identity,
            100 * (self.read_identity - identity),
        )
