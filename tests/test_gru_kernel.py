"""The inference GRU loop (float32 and int8) computes what nn.GRU computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelshrink.compress.int8_gru import Int8GRU, per_channel_codes
from modelshrink.errors import ModelshrinkError
from modelshrink.taiyaki import gru_kernel
from modelshrink.taiyaki.gru_extension import compiled_kernels
from modelshrink.taiyaki.gru_kernel import block_length, float_gru_inference, quantize_symmetric

BLOCK_STEPS = block_length(3)  # the tests' batch size

torch.set_num_threads(1)


@pytest.fixture(params=["compiled", "torchscript"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the fused C++ kernel and again with the TorchScript fallback."""
    if request.param == "torchscript":
        monkeypatch.setattr(gru_kernel, "compiled_kernels", lambda: None)
    return request.param


def trained_size_gru(seed: int, recurrent_bias: bool) -> nn.GRU:
    """Weights of trained size (std ~0.1); random biases everywhere, as a generic GRU has."""
    torch.manual_seed(seed)
    gru = nn.GRU(12, 16)
    with torch.no_grad():
        for name, parameter in gru.named_parameters():
            parameter.normal_(0, 0.1 if "weight" in name else 0.5)
        if not recurrent_bias:  # Taiyaki freezes bias_hh at zero
            gru.bias_hh_l0.zero_()
    return gru.eval()


def inputs(steps: int) -> torch.Tensor:
    return torch.rand(steps, 3, 12, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.mark.parametrize("recurrent_bias", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_float_loop_matches_torch_gru(kernel: str, recurrent_bias: bool, reverse: bool) -> None:
    gru = trained_size_gru(0, recurrent_bias)
    x = inputs(2 * BLOCK_STEPS + 5)  # a partial last block in both directions
    with torch.inference_mode():
        expected = gru(x.flip(0))[0].flip(0) if reverse else gru(x)[0]
        assert torch.allclose(float_gru_inference(x, gru, reverse), expected, atol=2e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_int8_gru_stays_close_to_float(kernel: str, reverse: bool) -> None:
    gru = trained_size_gru(2, recurrent_bias=True)
    x = inputs(3 * BLOCK_STEPS)
    with torch.inference_mode():
        expected = gru(x.flip(0))[0].flip(0) if reverse else gru(x)[0]
        difference = (Int8GRU(gru).sequence(x, reverse) - expected).abs()
    # 8-bit weights and activations: ~1 % of the state's range, never a drift
    assert difference.max() < 0.03
    assert difference[-BLOCK_STEPS:].mean() < 2 * difference[:BLOCK_STEPS].mean() + 1e-3


def test_int8_gru_runs_the_per_channel_codes() -> None:
    gru = trained_size_gru(3, recurrent_bias=False)
    codes, scale = per_channel_codes(gru.weight_hh_l0)
    assert codes.abs().amax(1).eq(127).all()  # each row's largest weight uses the full range
    assert torch.allclose(codes.float() * scale[:, None], gru.weight_hh_l0, atol=scale.max() / 2)
    assert torch.equal(Int8GRU(gru).weight_hh_codes, codes.t())


def test_int8_gru_refuses_what_it_cannot_run() -> None:
    with pytest.raises(ModelshrinkError, match="single-layer, unidirectional"):
        Int8GRU(nn.GRU(4, 4, bidirectional=True))


def test_the_fused_kernel_builds_on_this_machine() -> None:
    """install.sh provides g++ and ninja; without them int8 basecalling is ~1.3x slower."""
    assert compiled_kernels() is not None


def test_compiled_and_torchscript_quantization_agree() -> None:
    values = torch.randn(50, 12, generator=torch.Generator().manual_seed(5))
    codes, step = compiled_kernels().quantize_symmetric(values)
    expected_codes, expected_step = quantize_symmetric(values)
    assert step == pytest.approx(expected_step, rel=1e-6)
    assert (codes.int() - expected_codes.int()).abs().max() <= 1  # ties may round apart
    assert codes.abs().max() == 127
