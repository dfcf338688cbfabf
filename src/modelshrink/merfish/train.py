"""Losses and the training loop shared by float training, QAT and pruning fine-tuning.

Loss (as in the original anglerFISH code): BCE-with-logits on the position map (emitter
pixels weighted by `TrainSpec.position_weight`, 1 as in the original), plus a barcode
term weighted by `TrainSpec.barcode_weight` (16). The barcode term is the mean per-bit BCE over
emitter pixels plus `TrainSpec.empty_pixel_weight` (0.1) times the mean per-bit BCE (against
all-zero bits) over empty pixels: emitter pixels are rare, so an unweighted mean would teach the
network to output "no bits" everywhere.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from modelshrink.merfish.dataset import MerfishSplit
from modelshrink.merfish.model import BARCODE_CHANNELS, POSITION_CHANNEL, AnglerFISH
from modelshrink.merfish.spec import ModelSpec, TrainSpec

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float


def new_model(spec: ModelSpec, seed: int) -> AnglerFISH:
    """Seeded initialisation so two runs with one config give the same network."""
    torch.manual_seed(seed)
    return AnglerFISH(spec)


def anglerfish_loss(
    logits: torch.Tensor, position: torch.Tensor, barcode: torch.Tensor, spec: TrainSpec
) -> torch.Tensor:
    position_loss = binary_cross_entropy_with_logits(
        logits[:, POSITION_CHANNEL],
        position.float(),
        pos_weight=torch.tensor(spec.position_weight),
    )
    per_bit = binary_cross_entropy_with_logits(
        logits[:, BARCODE_CHANNELS], barcode.float(), reduction="none"
    ).mean(dim=1)
    emitter = position.float()
    empty = 1.0 - emitter
    emitter_term = (per_bit * emitter).sum() / emitter.sum().clamp(min=1.0)
    empty_term = (per_bit * empty).sum() / empty.sum().clamp(min=1.0)
    barcode_loss = emitter_term + spec.empty_pixel_weight * empty_term
    return position_loss + spec.barcode_weight * barcode_loss


@torch.no_grad()
def evaluate_loss(model: nn.Module, split: MerfishSplit, spec: TrainSpec) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(split), spec.batch_size):
        batch = slice(start, start + spec.batch_size)
        logits = model(split.images[batch])
        loss = anglerfish_loss(logits, split.position[batch], split.barcode[batch], spec)
        total += float(loss) * len(split.tiles[batch])
    return total / len(split)


def dihedral(generator: torch.Generator, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """One random flip / quarter turn of the last two axes, the same for every tensor."""
    turns = int(torch.randint(4, (1,), generator=generator))
    flip = bool(torch.randint(2, (1,), generator=generator))
    turned = [torch.rot90(tensor, turns, dims=(-2, -1)) for tensor in tensors]
    return [torch.flip(tensor, dims=(-1,)) for tensor in turned] if flip else turned


def _scheduler(
    optimiser: torch.optim.Optimizer, spec: TrainSpec, steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if spec.schedule == "constant" or steps == 0:  # no steps (epochs 0): nothing to schedule
        return None
    return torch.optim.lr_scheduler.OneCycleLR(optimiser, spec.learning_rate, total_steps=steps)


def train_model(
    model: nn.Module,
    train: MerfishSplit,
    val: MerfishSplit,
    spec: TrainSpec,
    after_step: Callable[[nn.Module], None] | None = None,
    keep_initial: bool = True,
    freeze_batch_norm: bool = False,
) -> TrainResult:
    """AdamW with gradient clipping; the model ends holding its best-validation weights.

    `after_step` runs after every optimiser step (pruning uses it to re-apply its masks).
    `spec.schedule` and `spec.augment` are explained in `TrainSpec`.
    `keep_initial=False` leaves the untrained state out of the best-epoch choice: a QAT graph's
    observers see data only while training, so its epoch 0 has no quantization parameters.
    `freeze_batch_norm` trains with batch norm in eval mode (running statistics used and kept):
    fine-tuning a converged network on small batches otherwise drags its statistics around,
    and QAT folds exactly those statistics into the int8 weights. Weights and QAT observers
    still train.
    """
    generator = torch.Generator().manual_seed(spec.seed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=spec.learning_rate, weight_decay=spec.weight_decay
    )
    steps_per_epoch = -(-len(train) // spec.batch_size)
    scheduler = _scheduler(optimiser, spec, spec.epochs * steps_per_epoch)
    best_state = copy.deepcopy(model.state_dict())
    initial_loss = evaluate_loss(model, val, spec)
    best_loss, best_epoch = (initial_loss if keep_initial else float("inf")), 0
    history = [{"epoch": 0.0, "train_loss": float("nan"), "val_loss": initial_loss}]
    for epoch in range(1, spec.epochs + 1):
        model.train(not freeze_batch_norm)
        order = torch.randperm(len(train), generator=generator)
        running = 0.0
        for start in range(0, len(train), spec.batch_size):
            batch = order[start : start + spec.batch_size]
            tensors = [train.images[batch], train.position[batch], train.barcode[batch]]
            if spec.augment:
                tensors = dihedral(generator, *tensors)
            images, position, barcode = tensors
            loss = anglerfish_loss(model(images), position, barcode, spec)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            if after_step is not None:
                after_step(model)
            running += float(loss.detach()) * len(batch)
        val_loss = evaluate_loss(model, val, spec)
        history.append(
            {"epoch": float(epoch), "train_loss": running / len(train), "val_loss": val_loss}
        )
        log.info("epoch %d: train loss %.4f, val loss %.4f", epoch, running / len(train), val_loss)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(history=history, best_epoch=best_epoch, best_val_loss=best_loss)
