"""Compressed merFISH variants: what each stores, that it reloads exactly, that int8 runs int8.

One tiny trained network (width 0.125, 16x16 tiles, two epochs) is shared by all tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from modelshrink.merfish import quantize, storage
from modelshrink.merfish.dataset import MerfishSplit, read_split
from modelshrink.merfish.simulate import write_dataset
from modelshrink.merfish.spec import ModelSpec, SimulationSpec, TrainSpec, VariantSpec
from modelshrink.merfish.train import new_model, train_model
from modelshrink.merfish.variants import make_variant

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


def test_training_is_seeded(splits: dict[str, MerfishSplit], trained: torch.nn.Module) -> None:
    again = new_model(ModelSpec(width=0.125), seed=0)
    result = train_model(again, splits["train"], splits["val"], TRAIN)
    assert len(result.history) == 3 and result.history[-1]["train_loss"] > 0
    for mine, theirs in zip(
        trained.state_dict().values(), again.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs)


def test_static_int8_stores_int8_reloads_exactly_and_runs_onednn_int8(trained, splits, tmp_path):
    float_path = tmp_path / "float32.safetensors"
    float_bytes = storage.save_float(float_path, trained, "float32", 16)
    summary, path = _variant(trained, splits, tmp_path, VariantSpec(method="static"))
    assert summary["stored_bytes"] == path.stat().st_size
    assert float_bytes / summary["stored_bytes"] > 2.9  # header + biases weigh more when tiny
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["encodings"])
    affine = [entry for entry in header.values() if entry["kind"] != "dense"]
    assert len(affine) == CONVOLUTIONS and all(entry["bits"] == 8 for entry in affine)

    converted = quantize.quantize_static(trained, splits["train"].images)
    loaded = storage.load_model(path)
    images = splits["test"].images
    assert torch.equal(_outputs(loaded.module, images), _outputs(converted, images))
    lowered = quantize.lower_to_onednn(loaded.module, 16)
    assert quantize.int8_conv_count(lowered) == CONVOLUTIONS
    float_probability = torch.sigmoid(_outputs(trained.eval(), images))
    int8_probability = torch.sigmoid(_outputs(lowered, images))
    assert (int8_probability - float_probability).abs().max() < 0.05


def test_qat_trains_with_fake_quantization(trained, splits) -> None:
    prepared = quantize.prepare_qat(trained, 16)
    fake_quant = [m for m in prepared.modules() if "FakeQuantize" in type(m).__name__]
    assert len(fake_quant) >= CONVOLUTIONS
    before = {name: value.clone() for name, value in prepared.state_dict().items()}
    result = train_model(
        prepared,
        splits["train"],
        splits["val"],
        TrainSpec(epochs=1, batch_size=4, learning_rate=1e-3),
    )
    assert len(result.history) == 2
    if result.best_epoch == 1:
        changed = [
            name
            for name, value in prepared.state_dict().items()
            if not torch.equal(value, before[name])
        ]
        assert changed


@pytest.mark.slow
def test_qat_converts_stores_and_reloads_exactly(trained, splits, tmp_path) -> None:
    """Slow: torchao's QAT conv-bn folding exports ~100 pattern graphs (minutes on 2 cores)."""
    spec = VariantSpec(method="qat", epochs=1, learning_rate=1e-4)
    summary, path = _variant(trained, splits, tmp_path, spec)
    assert summary["variant"] == "qat_int8"
    loaded = storage.load_model(path)
    int8_probability = torch.sigmoid(_outputs(loaded.module, splits["test"].images))
    float_probability = torch.sigmoid(_outputs(trained.eval(), splits["test"].images))
    assert (int8_probability - float_probability).abs().max() < 0.1


def test_dynamic_int8_converts_nothing_in_a_conv_unet(trained, splits, tmp_path) -> None:
    summary, path = _variant(trained, splits, tmp_path, VariantSpec(method="dynamic"))
    assert summary["info"]["converted_modules"] == []
    float_bytes = storage.save_float(tmp_path / "f.safetensors", trained, "float32", 16)
    assert abs(summary["stored_bytes"] - float_bytes) < 1024  # same tensors, other metadata
    images = splits["test"].images
    assert torch.equal(
        _outputs(storage.load_model(path).module, images), _outputs(trained.eval(), images)
    )


def test_fp16_halves_the_file_and_stays_close(trained, splits, tmp_path) -> None:
    summary, path = _variant(trained, splits, tmp_path, VariantSpec(method="fp16"))
    float_bytes = storage.save_float(tmp_path / "f.safetensors", trained, "float32", 16)
    assert 1.6 < float_bytes / summary["stored_bytes"] < 2.0
    images = splits["test"].images
    difference = _outputs(storage.load_model(path).module, images) - _outputs(trained, images)
    assert difference.abs().max() < 1e-2


def test_pruning_keeps_its_zeros_through_finetuning_and_stores_them_sparsely(
    trained, splits, tmp_path
) -> None:
    spec = VariantSpec(method="prune", sparsity=0.6, epochs=1, layers="stage1_*")
    summary, path = _variant(trained, splits, tmp_path, spec)
    loaded = storage.load_model(path).module
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
