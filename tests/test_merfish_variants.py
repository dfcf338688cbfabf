"""Compressed merFISH variants: what each stores, that it reloads exactly, that int8 runs int8.

One tiny trained network (width 0.125, 16x16 tiles, two epochs) is shared by all tests.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish import quantize, storage
from modelshrink.merfish.dataset import MerfishSplit, read_split
from modelshrink.merfish.int8_glue import aten_glue, fused_glue
from modelshrink.merfish.int8_lowering import lower_int8
from modelshrink.merfish.model_variants import make_variant
from modelshrink.merfish.simulate import write_dataset
from modelshrink.merfish.spec import ModelSpec, SimulationSpec, TrainSpec, VariantSpec
from modelshrink.merfish.train import dihedral, evaluate_loss, new_model, train_model
from modelshrink.toolbox import storage as toolbox

torch.set_num_threads(1)

TRAIN = TrainSpec(epochs=2, batch_size=4, learning_rate=3e-3)
CONVOLUTIONS = 3 * 5 * 3 + 2 * 2  # three U-Nets of five 3-conv blocks, two 2-conv heads


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MerfishSplit]:
    root = tmp_path_factory.mktemp("merfish") / "data"
    write_dataset(
        root,
        SimulationSpec(image_size=16, train_tiles=6, val_tiles=2, test_tiles=2, emitter_count=4),
    )
    return {split: read_split(root, split) for split in ("train", "val", "test")}


@pytest.fixture(scope="module")
def trained(splits: dict[str, MerfishSplit]) -> torch.nn.Module:
    model = new_model(ModelSpec(width=0.125), seed=0)
    train_model(model, splits["train"], splits["val"], TRAIN)
    return model


def _variant(trained, splits, tmp_path: Path, spec: VariantSpec) -> tuple[dict, Path]:
    path = tmp_path / f"{spec.method}.safetensors"
    summary = make_variant(trained, spec, TRAIN, splits["train"], splits["val"], path)
    return summary, path


def _outputs(module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([module(images[i : i + 1]) for i in range(len(images))])


def _assert_lowering_matches_torchao(
    converted: torch.fx.GraphModule, torchao_lowered: torch.fx.GraphModule, images: torch.Tensor
) -> None:
    """Our lowering runs the same oneDNN int8 convolutions as torchao's: with the ATen glue
    the logits are identical, with the fused glue (polynomial exp in ELU) nearly; batches
    give what single tiles give."""
    expected = _outputs(torchao_lowered, images)
    for glue in (aten_glue(), fused_glue()):
        if glue is None:  # no C++ compiler here
            continue
        lowered = lower_int8(converted, glue)
        assert quantize.int8_conv_count(lowered) == CONVOLUTIONS
        with torch.no_grad():
            batched = lowered(images)
        assert torch.equal(batched, _outputs(lowered, images))
        if glue.name == "aten":
            assert torch.equal(batched, expected)
        assert (torch.sigmoid(batched) - torch.sigmoid(expected)).abs().max() < 0.02


def test_training_is_seeded(splits: dict[str, MerfishSplit], trained: torch.nn.Module) -> None:
    again = new_model(ModelSpec(width=0.125), seed=0)
    result = train_model(again, splits["train"], splits["val"], TRAIN)
    assert len(result.history) == 3 and result.history[-1]["train_loss"] > 0
    for mine, theirs in zip(
        trained.state_dict().values(), again.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs)


def test_training_ends_holding_the_best_validation_weights(
    splits: dict[str, MerfishSplit],
) -> None:
    model = new_model(ModelSpec(width=0.125), seed=0)
    spec = TrainSpec(epochs=3, batch_size=4, learning_rate=3.0)  # too high: later epochs worsen
    result = train_model(model, splits["train"], splits["val"], spec)
    losses = [epoch["val_loss"] for epoch in result.history]
    assert result.best_epoch == losses.index(min(losses)) != len(losses) - 1
    assert evaluate_loss(model, splits["val"], spec) == pytest.approx(min(losses), rel=1e-5)


def test_augmentation_moves_images_and_truth_together(splits: dict[str, MerfishSplit]) -> None:
    images, position = splits["train"].images, splits["train"].position
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(40):
        turned_images, turned_position, turned_copy = dihedral(
            generator, images, position, images[:, 0]
        )
        assert torch.equal(turned_images[:, 0], turned_copy)
        # every emitter is still lit in some round at its (moved) truth pixel
        brightest = turned_images.amax(dim=1)[turned_position]
        assert brightest.min() > 2.0 and int(turned_position.sum()) == int(position.sum())
        seen.add(tuple(turned_images[0, 0].flatten()[:8].tolist()))
    assert len(seen) == 8  # all four turns, with and without a flip


def test_onecycle_and_augmentation_change_training(splits: dict[str, MerfishSplit]) -> None:
    plain = new_model(ModelSpec(width=0.125), seed=0)
    varied = new_model(ModelSpec(width=0.125), seed=0)
    train_model(plain, splits["train"], splits["val"], TRAIN)
    spec = TrainSpec(epochs=2, batch_size=4, learning_rate=3e-3, schedule="onecycle", augment=True)
    train_model(varied, splits["train"], splits["val"], spec)
    weights = "stage1_647.down1.0.weight"
    assert not torch.equal(plain.state_dict()[weights], varied.state_dict()[weights])
    with pytest.raises(ModelshrinkError, match=r"merfish\.train\.schedule: expected one of"):
        TrainSpec.from_mapping({"schedule": "cosine"})


def test_frozen_batch_norm_keeps_running_statistics(
    trained: torch.nn.Module, splits: dict[str, MerfishSplit]
) -> None:
    spec = TrainSpec(epochs=1, batch_size=4, learning_rate=1e-3)
    statistic = "stage2.down1.1.running_mean"
    for freeze in (True, False):
        model = copy.deepcopy(trained)
        before = model.state_dict()[statistic].clone()
        train_model(model, splits["train"], splits["val"], spec, freeze_batch_norm=freeze)
        assert torch.equal(model.state_dict()[statistic], before) is freeze


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.fx.GraphModule]:
    """The graphs `make_variant` builds on its way to the file (one conversion per test)."""
    graphs: dict[str, torch.fx.GraphModule] = {}

    def keep(name: str, function):
        def wrapper(*args, **kwargs):
            if name == "prepared":
                graphs[name] = args[0]
            result = function(*args, **kwargs)
            if name == "converted":
                graphs[name] = args[1]
            return result

        return wrapper

    monkeypatch.setattr(quantize, "convert_qat", keep("prepared", quantize.convert_qat))
    monkeypatch.setattr(storage, "save_int8", keep("converted", storage.save_int8))
    return graphs


def test_static_int8_stores_only_int8_essentials_reloads_exactly_runs_onednn_int8(
    trained, splits, tmp_path, captured
) -> None:
    spec = VariantSpec(method="static", calibration_tiles=2)
    summary, path = _variant(trained, splits, tmp_path, spec)
    assert summary["stored_bytes"] == path.stat().st_size
    assert summary["info"]["calibration_tiles"] == 2
    report = toolbox.model_size_report(path)
    tensors = report["tensors"]
    convolutions = [m for m in trained.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convolutions) == CONVOLUTIONS
    assert set(tensors) == {f"conv{k}" for k in range(CONVOLUTIONS)} | {"biases", "activations"}
    for index, conv in enumerate(convolutions):  # 1 byte per weight + a float32 scale per channel
        entry = tensors[f"conv{index}"]
        assert entry["encoding"] == "affine" and entry["shape"] == list(conv.weight.shape)
        assert entry["stored_bytes"] == conv.weight.numel() + 4 * conv.out_channels
    assert tensors["biases"]["stored_bytes"] == 4 * sum(c.out_channels for c in convolutions)
    assert report["file_bytes"] - report["tensor_bytes"] < 8_000  # header, metadata included
    float_bytes = storage.save_float(tmp_path / "float32.safetensors", trained, "float32", 16)
    assert float_bytes / summary["stored_bytes"] > 3.0  # fixed costs weigh most at width 1/8

    loaded = storage.load_merfish_model(path)
    images = splits["test"].images
    assert torch.equal(_outputs(loaded.module, images), _outputs(captured["converted"], images))
    lowered = quantize.lower_to_onednn(loaded.module, 16)
    assert quantize.int8_conv_count(lowered) == CONVOLUTIONS
    float_probability = torch.sigmoid(_outputs(trained.eval(), images))
    int8_probability = torch.sigmoid(_outputs(lowered, images))
    assert (int8_probability - float_probability).abs().max() < 0.05
    _assert_lowering_matches_torchao(loaded.module, lowered, images)

    wrong = tmp_path / "wrong_width.safetensors"  # constants that do not fit the architecture
    storage.save_int8(wrong, captured["converted"], "static_int8", ModelSpec(width=0.25), 16)
    with pytest.raises(
        ModelshrinkError,
        match=r"wrong_width.safetensors: 569 biases stored, the convolutions have 1121",
    ):
        storage.load_merfish_model(wrong)


def test_qat_trains_fake_quantized_converts_and_reloads_exactly(
    trained, splits, tmp_path, captured
) -> None:
    """QAT's conversion takes torchao's conv-bn folding (~30 s on 2 cores); reloading goes
    through the static-PTQ graph plus the stored extra quantizers and takes a few seconds."""
    spec = VariantSpec(method="qat", epochs=1, learning_rate=1e-4)
    summary, path = _variant(trained, splits, tmp_path, spec)
    assert summary["variant"] == "qat_int8" and summary["info"]["qat_best_epoch"] == 1
    fake_quant = [m for m in captured["prepared"].modules() if "FakeQuantize" in type(m).__name__]
    assert len(fake_quant) >= CONVOLUTIONS
    loaded = storage.load_merfish_model(path)
    images = splits["test"].images
    assert torch.equal(_outputs(loaded.module, images), _outputs(captured["converted"], images))
    lowered = quantize.lower_to_onednn(loaded.module, 16)
    assert quantize.int8_conv_count(lowered) == CONVOLUTIONS
    int8_probability = torch.sigmoid(_outputs(lowered, images))
    float_probability = torch.sigmoid(_outputs(trained.eval(), images))
    assert (int8_probability - float_probability).abs().max() < 0.1
    _assert_lowering_matches_torchao(loaded.module, lowered, images)


def test_dynamic_int8_converts_nothing_in_a_conv_unet(trained, splits, tmp_path) -> None:
    summary, path = _variant(trained, splits, tmp_path, VariantSpec(method="dynamic"))
    assert summary["info"]["converted_modules"] == []
    float_bytes = storage.save_float(tmp_path / "f.safetensors", trained, "float32", 16)
    assert abs(summary["stored_bytes"] - float_bytes) < 1024  # same tensors, other metadata
    images = splits["test"].images
    assert torch.equal(
        _outputs(storage.load_merfish_model(path).module, images), _outputs(trained.eval(), images)
    )


def test_fp16_halves_the_file_and_stays_close(trained, splits, tmp_path) -> None:
    summary, path = _variant(trained, splits, tmp_path, VariantSpec(method="fp16"))
    float_bytes = storage.save_float(tmp_path / "f.safetensors", trained, "float32", 16)
    assert 1.6 < float_bytes / summary["stored_bytes"] < 2.0
    images = splits["test"].images
    difference = _outputs(storage.load_merfish_model(path).module, images) - _outputs(
        trained, images
    )
    assert difference.abs().max() < 1e-2


def test_pruning_keeps_its_zeros_through_finetuning_and_stores_them_sparsely(
    trained, splits, tmp_path
) -> None:
    spec = VariantSpec(method="prune", sparsity=0.6, epochs=1, layers="stage1_*")
    summary, path = _variant(trained, splits, tmp_path, spec)
    loaded = storage.load_merfish_model(path).module
    for name, parameter in loaded.named_parameters():
        if parameter.ndim == 4 and name.startswith("stage1_"):
            zeros = int((parameter == 0).sum())
            assert zeros == pytest.approx(0.6 * parameter.numel(), abs=1), name
        elif parameter.ndim == 4:
            assert int((parameter == 0).sum()) == 0, name
    assert summary["nonzero_parameters"] < summary["parameters"]
    assert summary["nonzero_macs"] < summary["macs"]
    float_bytes = storage.save_float(tmp_path / "f.safetensors", trained, "float32", 16)
    assert summary["stored_bytes"] < float_bytes
