"""Loading Taiyaki checkpoints safely, including the original project's pickled attributes."""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from modelshrink.basecaller.checkpoint import LEGACY_MAGIC, load_taiyaki_checkpoint
from modelshrink.basecaller.network import build_network
from modelshrink.errors import ModelshrinkError

EXPECTED_LAYERS = [
    "convolution",
    "reverse",
    "gru",
    "reverse",
    "gru",
    "reverse",
    "global_norm_flipflop",
]


def test_pretrained_checkpoint_loads(taiyaki_checkpoint: Path) -> None:
    architecture, tensors = load_taiyaki_checkpoint(taiyaki_checkpoint)
    assert [layer["type"] for layer in architecture.layers] == EXPECTED_LAYERS
    assert sum(t.numel() for t in tensors.values()) == 285_160
    assert tensors["sublayers.1.layer.cudnn_gru.weight_ih_l0"].shape == (288, 96)
    assert tensors["sublayers.6.linear.weight"].shape == (40, 96)
    assert architecture.standardize and not architecture.reverse
    assert build_network(architecture, tensors).stride == 4
    for name, tensor in tensors.items():
        if name.endswith("bias_hh_l0"):
            assert torch.count_nonzero(tensor) == 0


def test_seed_checkpoint_loads_with_same_recurrent_weights(
    seed_checkpoint: Path, taiyaki_checkpoint: Path
) -> None:
    seed_arch, seed = load_taiyaki_checkpoint(seed_checkpoint)
    _, pretrained = load_taiyaki_checkpoint(taiyaki_checkpoint)
    assert [layer["type"] for layer in seed_arch.layers] == EXPECTED_LAYERS
    assert seed.keys() == pretrained.keys()
    assert seed_arch.layers[0]["stride"] == 5  # the replica's convolution differs in stride only
    for name in seed:
        assert seed[name].shape == pretrained[name].shape


def _legacy_file(path: Path, payload: bytes) -> None:
    with path.open("wb") as handle:
        for header in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, handle, protocol=2)
        handle.write(payload)


class _RunsShellCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "evil.checkpoint"
    _legacy_file(checkpoint, pickle.dumps(_RunsShellCommand(marker), protocol=2))
    with pytest.raises(ModelshrinkError, match=r"refusing to load.*system"):
        load_taiyaki_checkpoint(checkpoint)
    assert not marker.exists()


def test_not_a_checkpoint_gets_one_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.checkpoint"
    text.write_text("hello")
    with pytest.raises(ModelshrinkError, match="is not a Taiyaki checkpoint"):
        load_taiyaki_checkpoint(text)
    with pytest.raises(ModelshrinkError, match="cannot read checkpoint"):
        load_taiyaki_checkpoint(tmp_path / "missing.checkpoint")


def test_truncated_checkpoint_is_reported(tmp_path: Path, taiyaki_checkpoint: Path) -> None:
    truncated = tmp_path / "truncated.checkpoint"
    truncated.write_bytes(taiyaki_checkpoint.read_bytes()[:-5000])
    with pytest.raises(ModelshrinkError, match="truncated"):
        load_taiyaki_checkpoint(truncated)


# --- checkpoints as the original pruning/quantization scripts wrote them -------------------


def _fake_taiyaki_package() -> types.ModuleType:
    """Minimal stand-ins for taiyaki.layers so torch.save writes Taiyaki-style pickles."""
    layers = types.ModuleType("taiyaki.layers")
    activation = types.ModuleType("taiyaki.activation")

    def tanh(x):
        return torch.tanh(x)

    tanh.__module__, tanh.__qualname__ = "taiyaki.activation", "tanh"
    activation.tanh = tanh
    for name in ("Serial", "Convolution", "Reverse", "GruMod", "GlobalNormFlipFlop"):
        cls = type(name, (nn.Module,), {"__module__": "taiyaki.layers"})
        setattr(layers, name, cls)
    package = types.ModuleType("taiyaki")
    package.layers, package.activation = layers, activation
    return package


@pytest.fixture
def fake_taiyaki(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    package = _fake_taiyaki_package()
    monkeypatch.setitem(sys.modules, "taiyaki", package)
    monkeypatch.setitem(sys.modules, "taiyaki.layers", package.layers)
    monkeypatch.setitem(sys.modules, "taiyaki.activation", package.activation)
    return package


def _rebuild_as_taiyaki(package: types.ModuleType, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """The pretrained weights in a module tree shaped like Taiyaki's (for torch.save)."""
    layers = package.layers

    def gru(prefix: str):
        layer = layers.GruMod()
        layer.insize = layer.size = 96
        layer.cudnn_gru = nn.GRU(96, 96)
        layer.cudnn_gru.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        )
        return layer

    conv = layers.Convolution()
    conv.insize, conv.size, conv.winlen, conv.stride, conv.padding = 1, 96, 19, 4, (9, 9)
    conv.has_bias, conv.activation = True, package.activation.tanh
    conv.conv = nn.Conv1d(1, 96, 19, stride=4)
    conv.conv.weight.data = tensors["sublayers.0.conv.weight"].clone()
    conv.conv.bias.data = tensors["sublayers.0.conv.bias"].clone()
    sublayers = [conv]
    for index in range(1, 6):
        if index % 2:
            wrapper = layers.Reverse()
            wrapper.layer = gru(f"sublayers.{index}.layer.cudnn_gru.")
            sublayers.append(wrapper)
        else:
            sublayers.append(gru(f"sublayers.{index}.cudnn_gru."))
    head = layers.GlobalNormFlipFlop()
    head.insize, head.nbase, head.scale, head.size = 96, 4, 5.0, 40
    head.activation = package.activation.tanh
    head.linear = nn.Linear(96, 40)
    head.linear.weight.data = tensors["sublayers.6.linear.weight"].clone()
    head.linear.bias.data = tensors["sublayers.6.linear.bias"].clone()
    sublayers.append(head)
    model = layers.Serial()
    model.sublayers = nn.ModuleList(sublayers)
    model.metadata = {"reverse": False, "standardize": True, "version": 3}
    return model


@pytest.mark.filterwarnings("ignore::UserWarning")
def _save_legacy(model: nn.Module, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(model, buffer, _use_new_zipfile_serialization=False)
    path.write_bytes(buffer.getvalue())


def test_pruning_masks_from_original_scripts_are_applied(
    tmp_path: Path, taiyaki_checkpoint: Path, fake_taiyaki: types.ModuleType
) -> None:
    _, tensors = load_taiyaki_checkpoint(taiyaki_checkpoint)
    model = _rebuild_as_taiyaki(fake_taiyaki, tensors)
    name = "sublayers.2.cudnn_gru.weight_hh_l0"
    mask = (torch.rand(288, 96, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    layer = model.sublayers[2]
    layer.mask_flag, layer.weight_names, layer.masks = True, ["weight_hh_l0"], [mask]
    checkpoint = tmp_path / "pruned.checkpoint"
    _save_legacy(model, checkpoint)

    _, loaded = load_taiyaki_checkpoint(checkpoint)
    assert torch.equal(loaded[name], tensors[name] * mask)
    assert torch.count_nonzero(loaded[name]) == torch.count_nonzero(tensors[name] * mask)
    assert torch.equal(
        loaded["sublayers.4.cudnn_gru.weight_hh_l0"], tensors["sublayers.4.cudnn_gru.weight_hh_l0"]
    )


def test_int8_tensors_with_q_data_are_dequantized(
    tmp_path: Path, taiyaki_checkpoint: Path, fake_taiyaki: types.ModuleType
) -> None:
    _, tensors = load_taiyaki_checkpoint(taiyaki_checkpoint)
    model = _rebuild_as_taiyaki(fake_taiyaki, tensors)
    weight = tensors["sublayers.1.layer.cudnn_gru.weight_ih_l0"]
    scale = float(weight.max() - weight.min()) / 255
    zero_point = int(-128 - float(weight.min()) / scale)
    codes = (zero_point + weight / scale).clamp(-128, 127).round().to(torch.int8)
    gru = model.sublayers[1].layer
    gru.cudnn_gru.weight_ih_l0 = nn.Parameter(codes, requires_grad=False)
    gru.q_flag, gru.run_flag, gru.convert_flag = [True, False, False, False], False, False
    gru.q_data = {"weight_ih_l0": [torch.tensor(scale), zero_point]}
    checkpoint = tmp_path / "quantized.checkpoint"
    _save_legacy(model, checkpoint)

    _, loaded = load_taiyaki_checkpoint(checkpoint)
    restored = loaded["sublayers.1.layer.cudnn_gru.weight_ih_l0"]
    assert restored.dtype == torch.float32
    assert torch.allclose(restored, scale * (codes.float() - zero_point))
    assert (restored - weight).abs().max() <= scale / 2 + 1e-6
