"""Fine-tuning a pruned or quantized network: the original "retraining with masks", done
with the flip-flop CRF loss.

Why each rule:
- Masks are re-applied after every optimizer step (and masked gradients zeroed, so
  Adam's moments do not push on them): a pruned weight stays exactly zero, which is
  what the sparse file and the sparsity-aware MAC count promise.
- Taiyaki's `bias_hh_l0` is zero and frozen in Taiyaki itself; training it would give
  the GRU a bias the original never had.
- `layerwise` is the original schedule: one layer at a time, the others frozen, the
  last GRU first and moving backwards (then the other compressed layers, last first),
  `steps` steps per layer with a fresh Adam each.
- Quantization-aware training (`qat`) runs the forward pass on fake-quantized weights
  (`quantize.fake_quantize`, straight-through gradients), so the weights learn to live
  on the grid they will be stored on.
- `objective: distill` learns from the uncompressed original (the teacher) instead of
  the labels: the loss is the KL divergence between the two networks' flip-flop path
  distributions (`crf_loss.flipflop_kl`). Labels of simulated chunks describe the
  simulator, not real pores: with the same gradual 50 % GRU pruning schedule
  (bench/compress_goals.py), label training raised simulated identity 4.5 points above
  the original's and lost 3-6 points on real reads, distillation stayed within 0.4
  points on simulated reads and lost 1.1-3.8 on real ones. The teacher's outputs carry
  what the original knows about real signal, on any chunk.

In training mode GruMod runs torch's nn.GRU (its fast loop is for inference only).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call

from modelshrink.atomic import write_text_atomic
from modelshrink.basecaller.compress.crf_loss import flipflop_kl, flipflop_nll
from modelshrink.basecaller.compress.layout import network_layout
from modelshrink.basecaller.compress.spec import FinetuneSpec
from modelshrink.basecaller.compress.training_set import TrainingBatch, TrainingSet
from modelshrink.basecaller.network import Architecture, FlipFlopNetwork, build_network
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import is_frozen, match_names, selectable
from modelshrink.toolbox.quantize import QuantizeConfig, fake_quantize

ALL_LAYERS = "all"


@dataclass(frozen=True)
class FakeQuantization:
    """Which parameters the forward pass sees quantized, and how (QAT)."""

    config: QuantizeConfig
    params: str | tuple[str, ...] = "all"


@dataclass
class FinetuneResult:
    """Trained tensors (masks applied, frozen biases untouched) and the loss history:
    one (step, layer, loss) row per optimizer step, steps counted from 1."""

    tensors: dict[str, torch.Tensor]
    log: list[tuple[int, str, float]]
    seconds: float

    @property
    def steps(self) -> int:
        return len(self.log)

    @property
    def final_loss(self) -> float:
        return self.log[-1][2]

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "initial_loss": self.log[0][2],
            "final_loss": self.final_loss,
            "seconds": round(self.seconds, 1),
        }


def layer_schedule(
    architecture: Mapping[str, Any], touched: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """(layer name, its trainable parameters) in the original layer-wise order: GRUs
    from the last backwards, then the other layers, last first. Only layers with a
    `touched` (pruned or quantized) parameter are trained; none touched means all."""
    layers = network_layout(architecture)
    groups = {
        f"sublayers.{layer.index}": selectable(layer.parameters)
        for layer in sorted(layers, key=lambda layer: (layer.kind != "gru", -layer.index))
    }
    chosen = [(name, params) for name, params in groups.items() if set(params) & set(touched)]
    return chosen or list(groups.items())


def _fake_quantized_names(
    tensors: Mapping[str, torch.Tensor], quantization: FakeQuantization | None
) -> list[str]:
    if quantization is None:
        return []
    if quantization.params == "all":
        return selectable(tensors)
    return [name for pattern in quantization.params for name in match_names(pattern, tensors)]


def batch_loss(
    network: FlipFlopNetwork,
    batch: TrainingBatch,
    quantized: Sequence[str] = (),
    config: QuantizeConfig | None = None,
    teacher: FlipFlopNetwork | None = None,
    objective: str = "crf",
    distill_weight: float = 0.5,
) -> torch.Tensor:
    """Mean per-step loss of one batch, weights fake-quantized where asked.

    `objective` "crf": flip-flop NLL of the labels; "distill": KL from the `teacher`'s
    path distribution; "mixed": distill_weight * KL + (1 - distill_weight) * NLL.
    """
    if objective != "distill" and (batch.bases is None or batch.lengths is None):
        raise ModelshrinkError(
            f"finetune.objective {objective!r} trains on labels; the training set has none"
        )
    if quantized and config is not None:
        params = dict(network.named_parameters())
        swapped = {name: fake_quantize(params[name], config) for name in quantized}
        scores = functional_call(network, swapped, (batch.signal,), strict=False)
    else:
        scores = network(batch.signal)
    if objective == "crf":
        return flipflop_nll(scores, batch.bases, batch.lengths)
    if teacher is None:
        raise ModelshrinkError(f"finetune.objective {objective!r} needs a teacher network")
    with torch.no_grad():
        teacher_scores = teacher(batch.signal)
    kl = flipflop_kl(scores, teacher_scores)
    if objective == "distill":
        return kl
    nll = flipflop_nll(scores, batch.bases, batch.lengths)
    return distill_weight * kl + (1 - distill_weight) * nll


def _train_phase(
    network: FlipFlopNetwork,
    names: Sequence[str],
    batches,
    spec: FinetuneSpec,
    masks: Mapping[str, torch.Tensor],
    quantized: Sequence[str],
    config: QuantizeConfig | None,
    teacher: FlipFlopNetwork | None,
    on_step,
) -> None:
    params = dict(network.named_parameters())
    for name, param in params.items():
        param.requires_grad_(name in names)
    trainable = [params[name] for name in names]
    optimizer = torch.optim.Adam(trainable, lr=spec.learning_rate)
    for _ in range(spec.steps):
        optimizer.zero_grad(set_to_none=True)
        loss = batch_loss(
            network,
            next(batches),
            quantized,
            config,
            teacher,
            spec.objective,
            spec.distill_weight,
        )
        if not torch.isfinite(loss.detach()):
            raise ModelshrinkError(
                f"fine-tuning diverged (loss {loss.item()}); lower finetune.learning_rate "
                f"(now {spec.learning_rate})"
            )
        loss.backward()
        for name in names:
            if name in masks and params[name].grad is not None:
                params[name].grad.mul_(masks[name])
        torch.nn.utils.clip_grad_norm_(trainable, spec.gradient_clip)
        optimizer.step()
        with torch.no_grad():
            for name in names:
                if name in masks:
                    params[name].mul_(masks[name])
        on_step(loss.item())


def finetune(
    architecture: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    training: TrainingSet,
    spec: FinetuneSpec,
    masks: Mapping[str, torch.Tensor] | None = None,
    quantization: FakeQuantization | None = None,
    progress: bool = True,
    loss_log: Path | None = None,
    seed: int | None = None,
    teacher: Mapping[str, torch.Tensor] | None = None,
    teacher_architecture: Mapping[str, Any] | None = None,
    label: str = "",
) -> FinetuneResult:
    """Train the network on `training` and return its new tensors.

    `masks` (True = keep) are the pruning masks to hold; `quantization` turns on
    fake quantization; `seed` (default `spec.seed`) fixes the batch order and the
    torch generator. `loss_log` gets a TSV of step, layer, loss. `teacher` (the
    original's tensors, of `teacher_architecture`, default `architecture`) is needed
    by the distill and mixed objectives. `label` prefixes the log's layer names.
    """
    from tqdm import tqdm

    if spec.objective != "crf" and teacher is None:
        raise ModelshrinkError(
            f"finetune.objective {spec.objective!r} learns from the original network; "
            f"no teacher tensors were given"
        )
    masks = {name: mask.to(torch.float32) for name, mask in (masks or {}).items()}
    network = build_network(Architecture.from_dict(dict(architecture)), tensors).train()
    teacher_network = None
    if spec.objective != "crf" and teacher is not None:
        teacher_layout = Architecture.from_dict(dict(teacher_architecture or architecture))
        teacher_network = build_network(teacher_layout, teacher).eval()
        for param in teacher_network.parameters():
            param.requires_grad_(False)
    quantized = _fake_quantized_names(tensors, quantization)
    config = quantization.config if quantization else None
    touched = sorted(set(masks) | set(quantized))
    if spec.layerwise:
        phases = layer_schedule(architecture, touched)
    else:
        phases = [(ALL_LAYERS, [name for name in tensors if not is_frozen(name)])]
    seed = spec.seed if seed is None else seed
    torch.manual_seed(seed)
    batches = training.batches(spec.batch_size, seed)
    log: list[tuple[int, str, float]] = []
    bar = tqdm(
        total=spec.steps * len(phases),
        desc="fine-tuning",
        unit=" steps",
        file=sys.stderr,
        disable=not progress,
    )
    started = time.perf_counter()
    try:
        for layer, names in phases:

            def on_step(loss: float, layer: str = label + layer) -> None:
                log.append((len(log) + 1, layer, loss))
                bar.set_postfix(layer=layer, loss=f"{loss:.4f}", refresh=False)
                bar.update()

            _train_phase(
                network, names, batches, spec, masks, quantized, config, teacher_network, on_step
            )
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    trained = {name: value.detach().clone() for name, value in network.state_dict().items()}
    for name in trained:
        if is_frozen(name):
            trained[name] = tensors[name].detach().clone()
    if loss_log is not None:
        write_loss_log(loss_log, log)
    return FinetuneResult(trained, log, seconds)


def write_loss_log(path: Path, log: Sequence[tuple[int, str, float]]) -> None:
    """TSV of step, layer, loss (atomic)."""
    rows = "".join(f"{step}\t{layer}\t{loss:.6f}\n" for step, layer, loss in log)
    write_text_atomic(path, "step\tlayer\tloss\n" + rows)
