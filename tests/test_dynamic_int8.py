"""Dynamic int8 execution: the API exists, the stored codes are the ones that run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from compress_fixtures import taiyaki_architecture, taiyaki_state_dict
from torch import nn

from modelshrink.basecaller.basecall import Basecaller, BasecallSettings
from modelshrink.basecaller.compress import int8_path
from modelshrink.basecaller.compress.dynamic_int8 import (
    int8_weight_names,
    load_dynamic_int8,
    quantize_dynamic_int8,
    save_dynamic_int8,
)
from modelshrink.basecaller.compress.int8_gru import Int8GRU
from modelshrink.basecaller.gru_kernel import candidate_scale
from modelshrink.basecaller.model_file import execution_path
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.storage import load_model, model_size_report, save_model

torch.set_num_threads(1)


def test_int8_apis_still_exist_and_convert_gru_and_linear() -> None:
    """Fails loudly the day torch removes dynamic int8 Linear or the int8 GEMM."""
    from torch.ao.quantization import quantize_dynamic  # noqa: F401

    codes = torch.tensor([[1, -2], [3, 4]], dtype=torch.int8)
    assert torch.equal(torch._int_mm(codes, codes), codes.int() @ codes.int())
    module = nn.Sequential(nn.GRU(8, 8), nn.Linear(8, 4))
    quantized = quantize_dynamic_int8(module)
    assert isinstance(quantized[0], Int8GRU)
    assert "dynamic" in type(quantized[1]).__module__
    assert isinstance(module[0], nn.GRU)  # the float module is left alone


def test_stored_codes_are_the_codes_that_run(tmp_path: Path) -> None:
    network = pytest.importorskip("modelshrink.basecaller.network")
    architecture = taiyaki_architecture()
    # weights of trained size (std ~0.1): random std-0.3 GRUs are chaotic and amplify
    # any rounding through five layers, which says nothing about int8
    tensors = {name: tensor / 3 for name, tensor in taiyaki_state_dict().items()}
    path = tmp_path / "int8.safetensors"
    save_dynamic_int8(path, architecture, tensors, {"source": "synthetic"})
    stored = load_model(path)
    assert stored.metadata == {"source": "synthetic", "execution": "dynamic_int8"}

    model = load_dynamic_int8(path)
    gru = model.sublayers[1].layer.cudnn_gru
    name = "sublayers.1.layer.cudnn_gru.weight_hh_l0"
    spec = stored.encoding_specs[name]
    expected_codes = (stored.tensors[name] / spec.scale.float()[:, None]).round()
    assert torch.equal(gru.weight_hh_codes.t().float(), expected_codes)
    doubling = candidate_scale(gru.hidden_size)  # the candidate rows run doubled
    running_scale = gru.hidden_gate_scale * 127 / doubling
    assert torch.allclose(running_scale, spec.scale.float(), rtol=1e-6)
    linear = model.sublayers[6].linear.weight()
    assert torch.equal(linear.dequantize(), stored.tensors["sublayers.6.linear.weight"])

    # the int8 network computes nearly what the float network on the stored weights does
    arch = network.Architecture.from_dict(stored.architecture)
    float_model = network.build_network(arch, stored.tensors)
    signal = torch.randn(400, 2, 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        difference = (model(signal) - float_model(signal)).abs().max()
    assert difference < 0.2  # scores are in [-5, 5]; int8 activations cost a little

    # only the GRU and linear weights are int8: ~4x smaller than the float file
    save_model(tmp_path / "fp32.safetensors", architecture, tensors)
    ratio = (
        model_size_report(tmp_path / "fp32.safetensors")["file_bytes"]
        / model_size_report(path)["file_bytes"]
    )
    assert 3.6 < ratio < 4.0
    assert len(int8_weight_names(architecture)) == 11


def test_refuses_a_file_not_saved_for_int8(tmp_path: Path) -> None:
    path = tmp_path / "fp32.safetensors"
    save_model(path, taiyaki_architecture(), taiyaki_state_dict())
    with pytest.raises(ModelshrinkError, match=r"fp32\.safetensors was not saved for dynamic int8"):
        load_dynamic_int8(path)


def test_every_int8_kernel_runs_the_network_and_says_which_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forcing each kernel (MODELSHRINK_INT8_KERNEL) gives the same scores, and the
    execution path the basecall summary records names the kernel that ran."""
    network = pytest.importorskip("modelshrink.basecaller.network")
    architecture = taiyaki_architecture(size=24)
    tensors = {name: tensor / 3 for name, tensor in taiyaki_state_dict(size=24).items()}
    path = tmp_path / "int8.safetensors"
    save_dynamic_int8(path, architecture, tensors)
    model = load_dynamic_int8(path)
    signal = torch.randn(600, 3, 1, generator=torch.Generator().manual_seed(1))
    monkeypatch.delenv(int8_path.ENVIRONMENT_VARIABLE, raising=False)
    automatic = int8_path.available_paths(torch.device("cpu"))[0]
    assert execution_path(model, "cpu") == f"int8-{automatic}"
    scores = {}
    for kernel in int8_path.available_paths(torch.device("cpu")):
        monkeypatch.setenv(int8_path.ENVIRONMENT_VARIABLE, kernel)
        assert Basecaller(model, BasecallSettings()).execution_path == f"int8-{kernel}"
        with torch.inference_mode():
            scores[kernel] = model(signal)
    for kernel, values in scores.items():  # the same int8 codes, up to float rounding
        assert (values - scores[automatic]).abs().max() < 1e-5, kernel
    stored = load_model(path)
    float_model = network.build_network(
        network.Architecture.from_dict(stored.architecture), stored.tensors
    )
    assert execution_path(float_model, "cpu") == "float32-fused"


def test_seven_bit_gru_codes_run_unchanged_and_a_pruned_model_is_six_times_smaller(
    tmp_path: Path, taiyaki_checkpoint: Path
) -> None:
    """The pretrained model, half its GRU weights pruned, stored with 7-bit GRU codes:
    sparse int8 storage pays a mask bit plus 7 bits per survivor, so the file is over 6x
    smaller than the float32 original, and the int8 GRUs run exactly the stored codes."""
    from modelshrink.basecaller.model_file import convert_checkpoint, load_basecaller
    from modelshrink.toolbox.prune import prune_magnitude

    original = tmp_path / "original.safetensors"
    convert_checkpoint(taiyaki_checkpoint, original)
    stored = load_model(original)
    pruned = prune_magnitude(stored.tensors, {"sublayers.*.cudnn_gru.weight_*": 0.5}).tensors
    path = tmp_path / "pruned_int7.safetensors"
    save_dynamic_int8(path, stored.architecture, pruned, gru_bits=7)

    assert original.stat().st_size / path.stat().st_size > 6.0
    reloaded = load_model(path)
    name = "sublayers.3.layer.cudnn_gru.weight_ih_l0"
    spec = reloaded.encoding_specs[name]
    assert spec.values.bits == 7
    model = load_basecaller(path)
    gru = model.sublayers[3].layer.cudnn_gru
    codes = gru.weight_ih_codes.t().float()
    assert codes.abs().max() == 63
    assert torch.equal(codes, (reloaded.tensors[name] / spec.values.scale.float()[:, None]).round())
    assert int((codes == 0).sum()) == int((reloaded.tensors[name] == 0).sum())
    # the linear layer keeps 8-bit codes (PyTorch's dynamic int8 Linear)
    linear = reloaded.encoding_specs["sublayers.6.linear.weight"]
    assert linear.bits == 8
