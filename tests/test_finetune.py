"""Fine-tuning: masks hold exact zeros, the loss falls, layer-wise and QAT schedules run,
distillation learns from the original, gradual pruning keeps earlier zeros."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from modelshrink.basecaller.checkpoint import load_taiyaki_checkpoint
from modelshrink.basecaller.compress.crf_loss import flipflop_kl, transition_index
from modelshrink.basecaller.compress.finetune import (
    FakeQuantization,
    batch_loss,
    finetune,
    layer_schedule,
)
from modelshrink.basecaller.compress.model_variant import FinetuneOptions, build_variant
from modelshrink.basecaller.compress.spec import FinetuneSpec, parse_variant
from modelshrink.basecaller.compress.training_set import load_training_set
from modelshrink.basecaller.network import Architecture, build_network
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import is_frozen
from modelshrink.toolbox.prune import prune_magnitude
from modelshrink.toolbox.quantize import PerChannelConfig
from modelshrink.toolbox.storage import load_model, save_model

torch.set_num_threads(1)
CHUNK = 800  # 200 network steps: short enough for a fast test, long enough to learn
GRU_WEIGHTS = "sublayers.*.cudnn_gru.weight_*"


@pytest.fixture(scope="module")
def model(taiyaki_checkpoint: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    architecture, tensors = load_taiyaki_checkpoint(taiyaki_checkpoint)
    return architecture.to_dict(), tensors


@pytest.fixture(scope="module")
def training(shared_data: Path):
    return load_training_set(
        [shared_data / "taiyaki" / "mapped_signal" / "mapped_reads_0.hdf5"], CHUNK, stride=4
    )


def _loss(architecture: dict, tensors: dict, batch) -> float:
    network = build_network(Architecture.from_dict(architecture), tensors)
    with torch.no_grad():
        return float(batch_loss(network, batch))


def test_masks_survive_and_the_loss_falls(model, training, tmp_path: Path) -> None:
    architecture, tensors = model
    pruned = prune_magnitude(tensors, {GRU_WEIGHTS: 0.5})
    spec = FinetuneSpec(steps=6, learning_rate=2e-3, batch_size=4, chunk_length=CHUNK)
    log = tmp_path / "loss.tsv"
    result = finetune(
        architecture, pruned.tensors, training, spec, pruned.masks, progress=False, loss_log=log
    )
    for name, mask in pruned.masks.items():
        assert bool((result.tensors[name][~mask] == 0).all()), name
        assert bool((result.tensors[name][mask] != pruned.tensors[name][mask]).any()), name
    for name, tensor in result.tensors.items():
        if is_frozen(name):
            assert torch.equal(tensor, torch.zeros_like(tensor))
    batch = training.batch(range(8))
    before = _loss(architecture, pruned.tensors, batch)
    after = _loss(architecture, result.tensors, batch)
    assert after < 0.9 * before
    rows = log.read_text().splitlines()
    assert rows[0] == "step\tlayer\tloss" and len(rows) == 7
    assert rows[1].startswith("1\tall\t") and result.steps == 6


def test_layerwise_trains_last_gru_first_and_freezes_the_rest(model, training) -> None:
    architecture, tensors = model
    order = [name for name, _ in layer_schedule(architecture, list(tensors))]
    assert order[:5] == [f"sublayers.{i}" for i in (5, 4, 3, 2, 1)]
    touched = {
        "sublayers.2.cudnn_gru.weight_hh_l0": 0.5,
        "sublayers.5.layer.cudnn_gru.weight_ih_l0": 0.5,
    }
    pruned = prune_magnitude(tensors, touched)
    spec = FinetuneSpec(steps=1, batch_size=2, chunk_length=CHUNK, layerwise=True)
    result = finetune(architecture, pruned.tensors, training, spec, pruned.masks, progress=False)
    assert [layer for _, layer, _ in result.log] == ["sublayers.5", "sublayers.2"]
    for name, tensor in result.tensors.items():
        trained = name.startswith(("sublayers.5.", "sublayers.2.")) and not is_frozen(name)
        assert torch.equal(tensor, pruned.tensors[name]) != trained, name


def test_quantization_aware_training_runs(model, training) -> None:
    architecture, tensors = model
    spec = FinetuneSpec(steps=2, learning_rate=1e-3, batch_size=2, chunk_length=CHUNK, qat=True)
    fake = FakeQuantization(PerChannelConfig(4), ("sublayers.6.linear.weight",))
    result = finetune(architecture, tensors, training, spec, quantization=fake, progress=False)
    assert all(torch.isfinite(torch.tensor(loss)) for _, _, loss in result.log)
    # the straight-through gradient reaches the fake-quantized weight
    name = "sublayers.6.linear.weight"
    assert not torch.equal(result.tensors[name], tensors[name])


def test_empty_training_set_is_refused_before_any_work(shared_data: Path) -> None:
    mapped = shared_data / "taiyaki" / "mapped_signal" / "mapped_reads_0.hdf5"
    with pytest.raises(ModelshrinkError, match=r"needs training data"):
        load_training_set([], CHUNK, stride=4)
    with pytest.raises(ModelshrinkError, match=r"no usable training chunk of 10000000 samples"):
        load_training_set([mapped], 10_000_000, stride=4)


def test_distillation_loss_is_zero_for_the_teacher_itself() -> None:
    torch.manual_seed(0)
    teacher = 3 * torch.randn(30, 2, 40)
    student = teacher.clone().requires_grad_(True)
    kl = flipflop_kl(student, teacher)
    kl.backward()
    assert abs(float(kl.detach())) < 1e-5
    assert float(student.grad.abs().max()) < 1e-6
    other = 3 * torch.randn(30, 2, 40)
    assert float(flipflop_kl(other, teacher)) > 0.05
    # adding a constant to every transition of a step changes no path probability
    assert abs(float(flipflop_kl(teacher + 0.7, teacher))) < 1e-4


def _path_log_probs(scores: torch.Tensor) -> dict[tuple[int, ...], float]:
    """log P(path) of every allowed flip-flop state path of one chunk [T, 40], by brute
    force: start in a flip state, flop b entered only from flip b or flop b."""
    paths = {}
    for path in itertools.product(range(8), repeat=scores.shape[0] + 1):
        if path[0] >= 4 or any(d >= 4 and s not in (d, d - 4) for s, d in itertools.pairwise(path)):
            continue
        source, dest = torch.tensor(path[:-1]), torch.tensor(path[1:])
        index = transition_index(source, dest, 4)
        paths[path] = float(scores.gather(1, index[:, None]).sum())
    log_z = torch.logsumexp(torch.tensor(list(paths.values()), dtype=torch.float64), 0)
    return {path: score - float(log_z) for path, score in paths.items()}


def test_distillation_loss_is_the_path_kl_by_brute_force() -> None:
    torch.manual_seed(1)
    teacher, student = torch.randn(3, 1, 40), torch.randn(3, 1, 40)
    log_p_teacher = _path_log_probs(teacher[:, 0].double())
    log_p_student = _path_log_probs(student[:, 0].double())
    expected = sum(math.exp(lp) * (lp - log_p_student[path]) for path, lp in log_p_teacher.items())
    kl = flipflop_kl(student, teacher, reduction="sum")
    assert float(kl) == pytest.approx(expected, rel=1e-4)


def _distill_loss(architecture: dict, tensors: dict, teacher: dict, batch) -> float:
    student = build_network(Architecture.from_dict(architecture), tensors)
    original = build_network(Architecture.from_dict(architecture), teacher)
    with torch.no_grad():
        return float(batch_loss(student, batch, teacher=original, objective="distill"))


def test_distillation_holds_masks_and_lowers_the_kl(model, training) -> None:
    architecture, tensors = model
    pruned = prune_magnitude(tensors, {GRU_WEIGHTS: 0.5})
    spec = FinetuneSpec(
        steps=6, learning_rate=2e-3, batch_size=4, chunk_length=CHUNK, objective="distill"
    )
    result = finetune(
        architecture, pruned.tensors, training, spec, pruned.masks, progress=False, teacher=tensors
    )
    for name, mask in pruned.masks.items():
        assert bool((result.tensors[name][~mask] == 0).all()), name
    batch = training.batch(range(8))
    before = _distill_loss(architecture, pruned.tensors, tensors, batch)
    after = _distill_loss(architecture, result.tensors, tensors, batch)
    assert after < 0.8 * before
    with pytest.raises(ModelshrinkError, match="no teacher"):
        finetune(architecture, pruned.tensors, training, spec, pruned.masks, progress=False)


def test_gradual_pruning_keeps_earlier_zeros(model, shared_data: Path, tmp_path: Path) -> None:
    architecture, tensors = model
    original = tmp_path / "original.safetensors"
    save_model(original, architecture, tensors, {})
    raw = {
        "prune": {"sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 0.5}, "iterations": 2},
        "finetune": {"steps": 1, "batch_size": 2, "chunk_length": CHUNK, "objective": "mixed"},
    }
    mapped = shared_data / "taiyaki" / "mapped_signal" / "mapped_reads_0.hdf5"
    log = tmp_path / "loss.tsv"
    options = FinetuneOptions((mapped,), log, progress=False)
    output = tmp_path / "gradual.safetensors"
    result = build_variant(original, output, parse_variant("gradual", raw), options).tuned
    assert result is not None
    assert [layer for _, layer, _ in result.log] == ["round1/all", "round2/all"]
    assert log.read_text().splitlines()[2].startswith("2\tround2/all\t")
    weight = load_model(output).tensors["sublayers.2.cudnn_gru.weight_hh_l0"]
    assert int((weight == 0).sum()) == weight.numel() // 2
    first_round = prune_magnitude(tensors, {"sublayers.2.cudnn_gru.weight_hh_l0": 0.25})
    assert bool((weight[~first_round.masks["sublayers.2.cudnn_gru.weight_hh_l0"]] == 0).all())
