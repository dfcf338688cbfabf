"""Quantization schemes: the original's exact arithmetic, error bounds, stored sizes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from compress_fixtures import taiyaki_architecture, taiyaki_state_dict

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.prune import prune_magnitude
from modelshrink.toolbox.quantize import (
    FloatConfig,
    PerChannelConfig,
    ScaledTernaryConfig,
    ScaleQuantConfig,
    TernaryConfig,
    fake_quantize,
    quantize_per_channel,
    quantize_scale,
    quantize_scaled_ternary,
    quantize_tensors,
    quantize_ternary,
    read_quantize_data_txt,
    scale_quant_params,
)
from modelshrink.toolbox.storage import (
    AffineEncoding,
    DenseEncoding,
    SparseEncoding,
    TernaryEncoding,
    compact_encoding,
    load_model,
    model_size_report,
    save_model,
)

torch.set_num_threads(1)
HH2 = "sublayers.2.cudnn_gru.weight_hh_l0"


def _weight(seed: int = 0) -> torch.Tensor:
    return torch.randn(288, 96, generator=torch.Generator().manual_seed(seed)) * 0.3


def test_scale_params_follow_the_original_formula() -> None:
    # min -1, max 3, 8 bits: scale 4/255; zero point -128 + 1/scale = -64.25 -> -64
    x = torch.tensor([-1.0, 0.0, 3.0])
    scale, zero_point = scale_quant_params(x, 8)
    assert scale == pytest.approx(4 / 255)
    assert zero_point == -64
    # all-positive tensor: zero point clamps to qmin; truncation keeps it an int
    scale, zero_point = scale_quant_params(torch.tensor([1.0, 2.0]), 4)
    assert (scale, zero_point) == (pytest.approx(1 / 15), -8)
    assert scale_quant_params(torch.zeros(5), 8) == (1.0, 0)


@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_scale_quant_error_bound_and_grid(bits: int) -> None:
    weight = _weight()
    dequantized, encoding = quantize_scale(weight, ScaleQuantConfig(bits))
    assert isinstance(encoding, AffineEncoding) and encoding.bits == bits
    scale = float(encoding.scale)
    assert (dequantized - weight).abs().max() <= scale / 2 + 1e-6
    assert dequantized.unique().numel() <= 2**bits
    # float_format keeps the same values but stores them as float32 (no saving)
    floats, dense = quantize_scale(weight, ScaleQuantConfig(bits, float_format=True))
    assert torch.equal(floats, dequantized) and dense == DenseEncoding("float32")


def test_scale_quant_keeps_pruned_zeros_at_zero() -> None:
    pruned = prune_magnitude({"w": _weight()}, {"w": 0.5}).tensors["w"]
    dequantized, _ = quantize_scale(pruned, ScaleQuantConfig(4))
    assert bool((dequantized[pruned == 0] == 0).all())


@pytest.mark.parametrize("bits", [4, 8])
def test_per_channel_error_bound_per_row(bits: int) -> None:
    weight = _weight()
    weight[7] *= 20  # one loud row must not coarsen the others
    dequantized, encoding = quantize_per_channel(weight, PerChannelConfig(bits))
    assert isinstance(encoding, AffineEncoding) and encoding.axis == 0
    scale = encoding.scale.float()
    assert encoding.scale_format == "log8" and scale.numel() == 288
    # one-byte scales are rounded up (never clipping a row) by at most one 2^(1/16) step
    exact = weight.abs().amax(dim=1) / (2 ** (bits - 1) - 1)
    assert bool((scale >= exact).all()) and bool((scale <= exact * 2 ** (1 / 16)).all())
    assert bool(((dequantized - weight).abs().amax(dim=1) <= scale / 2 + 1e-6).all())
    quiet = (dequantized - weight).abs()[8].max()
    assert quiet < (dequantized - weight).abs()[7].max() / 5
    _, bias_encoding = quantize_per_channel(torch.randn(288), PerChannelConfig(bits))
    assert bias_encoding.axis is None and bias_encoding.scale.numel() == 1


def test_float_formats() -> None:
    weight = _weight()
    half, encoding = quantize_tensors({"w": weight}, FloatConfig("float16"))
    assert torch.equal(half["w"], weight.half().float())
    assert encoding["w"] == DenseEncoding("float16")
    brain, _ = quantize_tensors({"w": weight}, FloatConfig("bfloat16"))
    assert (brain["w"] - weight).abs().max() <= weight.abs().max() * 2**-8
    with pytest.raises(ModelshrinkError, match="float8"):
        FloatConfig("float8")


def test_ternary_original_thresholds() -> None:
    x = torch.tensor([-0.9, -0.5, -0.2, 0.0, 0.5, 0.51, 2.0])
    values, encoding = quantize_ternary(x, TernaryConfig())
    assert values.tolist() == [-1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert isinstance(encoding, TernaryEncoding) and float(encoding.scale) == 1.0


def test_scaled_ternary_fits_threshold_and_scale() -> None:
    weight = _weight()
    values, _ = quantize_scaled_ternary(weight, ScaledTernaryConfig())
    threshold = 0.7 * weight.abs().mean()
    above = weight.abs() > threshold
    alpha = weight.abs()[above].mean()
    assert torch.allclose(values, alpha * torch.sign(weight) * above)
    # the fitted scale beats the original unscaled ternary by far on small weights
    unscaled, _ = quantize_ternary(weight, TernaryConfig())
    assert (values - weight).norm() < 0.8 * (unscaled - weight).norm()
    per_row, row_encoding = quantize_scaled_ternary(weight, ScaledTernaryConfig(axis=0))
    assert row_encoding.axis == 0 and per_row.shape == weight.shape


@pytest.mark.parametrize(
    "config",
    [
        ScaleQuantConfig(4),
        PerChannelConfig(8),
        PerChannelConfig(3, scale_dtype="float32"),
        FloatConfig("bfloat16"),
        TernaryConfig(0.3),
        ScaledTernaryConfig(axis=0),
    ],
)
def test_every_scheme_round_trips_through_storage(tmp_path: Path, config) -> None:
    tensors = taiyaki_state_dict()
    quantized, encodings = quantize_tensors(tensors, config)
    path = tmp_path / "q.safetensors"
    save_model(path, taiyaki_architecture(), quantized, encodings=encodings)
    loaded = load_model(path).tensors
    for name, tensor in quantized.items():
        assert torch.allclose(loaded[name], tensor, atol=1e-7, rtol=0), name


def test_int8_file_is_four_times_smaller_and_4bit_eight(tmp_path: Path) -> None:
    tensors = taiyaki_state_dict()
    architecture = taiyaki_architecture()
    save_model(tmp_path / "fp32.safetensors", architecture, tensors)
    fp32 = model_size_report(tmp_path / "fp32.safetensors")["file_bytes"]
    ratios = {}
    for label, config in {
        "int8": ScaleQuantConfig(8),
        "int4": ScaleQuantConfig(4),
        "pc8": PerChannelConfig(8),
    }.items():
        quantized, encodings = quantize_tensors(tensors, config)
        compact = {name: compact_encoding(t, encodings.get(name)) for name, t in quantized.items()}
        path = tmp_path / f"{label}.safetensors"
        save_model(path, architecture, quantized, encodings=compact)
        ratios[label] = fp32 / model_size_report(path)["file_bytes"]
    assert 3.85 < ratios["int8"] <= 4.0
    assert 7.3 < ratios["int4"] <= 8.0
    assert 3.8 < ratios["pc8"] <= ratios["int8"]


def test_pruned_and_quantized_is_stored_sparse(tmp_path: Path) -> None:
    pruned = prune_magnitude({"w": _weight()}, {"w": 0.5}).tensors
    quantized, encodings = quantize_tensors(pruned, PerChannelConfig(8))
    encoding = compact_encoding(quantized["w"], encodings["w"])
    assert isinstance(encoding, SparseEncoding)
    save_model(tmp_path / "s.safetensors", {}, quantized, encodings={"w": encoding})
    entry = model_size_report(tmp_path / "s.safetensors")["tensors"]["w"]
    n = 288 * 96
    # mask + int8 non-zeros + one-byte scales (and the 4-byte largest scale)
    assert entry["stored_bytes"] == n // 8 + n // 2 + 288 + 4
    assert compact_encoding(torch.randn(100)) == DenseEncoding("float32")


def test_parameter_lists_and_data_txt(tmp_path: Path) -> None:
    tensors = taiyaki_state_dict()
    _, encodings = quantize_tensors(tensors, ScaleQuantConfig(8))
    assert len(encodings) == len(tensors) - 5  # every parameter but the zero GRU biases
    path = tmp_path / "data.txt"
    path.write_text(
        "sublayers.5.layer.cudnn_gru.weight_hh_l0\nsublayers.3.layer.cudnn_gru.weight_hh_l0\n"
    )
    names = read_quantize_data_txt(path)
    _, encodings = quantize_tensors(tensors, ScaleQuantConfig(8), names)
    assert list(encodings) == names
    with pytest.raises(ModelshrinkError, match=r"unknown parameter 'sublayers\.9\.linear\.weight'"):
        quantize_tensors(tensors, ScaleQuantConfig(8), ["sublayers.9.linear.weight"])
    path.write_text("\n\n")
    with pytest.raises(ModelshrinkError, match="found none"):
        read_quantize_data_txt(path)
    for bits in (1, 9, 8.0):
        with pytest.raises(ModelshrinkError, match="from 2 to 8"):
            ScaleQuantConfig(bits)


def test_fake_quantize_straight_through_gradient() -> None:
    weight = _weight().requires_grad_()
    config = PerChannelConfig(4)
    output = fake_quantize(weight, config)
    expected, _ = quantize_per_channel(weight, config)
    assert torch.equal(output.detach(), expected)
    (output * torch.arange(96.0)).sum().backward()
    assert torch.equal(weight.grad, torch.arange(96.0).expand(288, 96))
    assert math.isclose(
        float(output.detach().abs().max()), float(weight.detach().abs().max()), rel_tol=1e-3
    )
