"""The inference GRU loop (float32 and int8) computes what nn.GRU computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelshrink.basecaller import gru_kernel
from modelshrink.basecaller.compress import int8_path
from modelshrink.basecaller.compress.int8_gru import Int8GRU, pack_pairs, per_channel_codes
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.gru_kernel import block_length, float_gru_inference, quantize_symmetric
from modelshrink.errors import ModelshrinkError

BLOCK_STEPS = block_length(3)  # the tests' batch size
CPU = torch.device("cpu")
#: every int8 kernel this machine runs (the AVX2 one wherever the CPU has AVX2)
INT8_PATHS = int8_path.available_paths(CPU)
needs_avx2 = pytest.mark.skipif(int8_path.AVX2 not in INT8_PATHS, reason="no AVX2 on this CPU")

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


@pytest.mark.parametrize("path", INT8_PATHS)
@pytest.mark.parametrize("reverse", [False, True])
def test_int8_gru_stays_close_to_float(path: str, reverse: bool) -> None:
    gru = trained_size_gru(2, recurrent_bias=True)
    x = inputs(3 * BLOCK_STEPS)
    with torch.inference_mode():
        expected = gru(x.flip(0))[0].flip(0) if reverse else gru(x)[0]
        difference = (Int8GRU(gru).sequence(x, reverse, path) - expected).abs()
    # 8-bit weights and activations: ~1 % of the state's range, never a drift
    assert difference.max() < 0.03
    assert difference[-BLOCK_STEPS:].mean() < 2 * difference[:BLOCK_STEPS].mean() + 1e-3


@needs_avx2
@pytest.mark.parametrize("reverse", [False, True])
def test_int8_paths_compute_the_same_integers(reverse: bool) -> None:
    """The AVX2 kernel and _int_mm form the same int32 products and share the gate code,
    which rounds differently only in the gate loop's remainder (hidden 15 is not whole
    vectors): ulp-level, so at most a rare state code rounds the other way over 1374
    steps. TorchScript divides by the scale instead of multiplying by its inverse: a few
    codes more. Batch 5: odd tiles. The inputs are laid out as a convolution's output,
    [batch, width, time] in memory, which the AVX2 kernel reads in place."""
    torch.manual_seed(4)
    gru = nn.GRU(7, 15)
    series = torch.rand(5, 7, BLOCK_STEPS + 9, generator=torch.Generator().manual_seed(6))
    x = (series * 4 - 2).permute(2, 0, 1)
    int8 = Int8GRU(gru)
    with torch.inference_mode():
        outputs = {path: int8.sequence(x, reverse, path) for path in INT8_PATHS}
    for path in (int8_path.AVX2, int8_path.TORCHSCRIPT):
        difference = (outputs[path] - outputs[int8_path.INT_MM]).abs()
        assert difference.max() < 5e-3, path  # a state code is 1/127 = 8e-3
        assert (difference > 1e-6).float().mean() < 0.02, path


@needs_avx2
def test_avx2_kernel_reads_any_input_layout() -> None:
    """Contiguous, contiguous in time (a convolution's output) or neither: the same codes."""
    int8 = Int8GRU(nn.GRU(6, 8))
    series = torch.randn(3, 6, 2 * BLOCK_STEPS, generator=torch.Generator().manual_seed(2))
    in_time = series.permute(2, 0, 1)  # [time, batch, inputs], time adjacent in memory
    neither = torch.stack([in_time, in_time], 3).flatten(2)[:, :, ::2]  # every other value
    with torch.inference_mode():
        expected = int8.sequence(in_time.contiguous(), path=int8_path.AVX2)
        assert torch.equal(int8.sequence(in_time, path=int8_path.AVX2), expected)
        assert torch.equal(int8.sequence(neither, path=int8_path.AVX2), expected)


@needs_avx2
@pytest.mark.parametrize(("rows", "inputs_", "columns"), [(128, 96, 288), (5, 13, 45), (1, 1, 3)])
def test_avx2_products_are_the_int32_matmul(rows: int, inputs_: int, columns: int) -> None:
    generator = torch.Generator().manual_seed(rows)
    codes = torch.randint(-127, 128, (rows, inputs_), generator=generator, dtype=torch.int8)
    weights = torch.randint(-127, 128, (inputs_, columns), generator=generator, dtype=torch.int8)
    weights[:, 0] = 127  # the extremes: every product at its largest, no overflow
    codes[0] = -127
    products = compiled_kernels().avx2_products(codes, pack_pairs(weights))
    assert products.shape == (rows, -(-columns // 8) * 8)  # whole blocks of 8 columns
    assert torch.equal(products[:, :columns], codes.int() @ weights.int())
    assert not products[:, columns:].any()  # padding columns stay zero


def test_packed_pairs_put_two_rows_of_a_column_side_by_side() -> None:
    codes = torch.arange(3 * 9, dtype=torch.int8).view(3, 9)  # K = 3 rows, N = 9 columns
    packed = pack_pairs(codes)
    assert packed.shape == (2, 2, 8, 2)  # column blocks, row pairs, lanes, pair
    assert packed[0, 0, 1].tolist() == [codes[0, 1], codes[1, 1]]
    assert packed[1, 1, 0].tolist() == [codes[2, 8], 0]  # zero padding past row 3
    assert not packed[1, :, 1:].any()  # and past column 9


@needs_avx2
def test_path_choice_follows_the_cpu_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    int8 = Int8GRU(nn.GRU(4, 8))
    monkeypatch.delenv(int8_path.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(int8_path, "cpu_flags", lambda: frozenset({"avx2", "avx512_vnni"}))
    assert int8.execution_path(CPU) == int8_path.INT_MM  # oneDNN's VNNI GEMM is fast
    monkeypatch.setattr(int8_path, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert int8.execution_path(CPU) == int8_path.AVX2  # _int_mm is 27x slower there
    assert int8.execution_path(torch.device("meta")) == int8_path.TORCHSCRIPT
    monkeypatch.setenv(int8_path.ENVIRONMENT_VARIABLE, "torchscript")
    assert int8.execution_path(CPU) == int8_path.TORCHSCRIPT
    assert int8.execution_path(CPU, "int_mm") == int8_path.INT_MM  # an argument wins
    monkeypatch.setenv(int8_path.ENVIRONMENT_VARIABLE, "vnni")
    with pytest.raises(ModelshrinkError, match=r"MODELSHRINK_INT8_KERNEL='vnni' is not an"):
        int8.execution_path(CPU)
    with pytest.raises(ModelshrinkError, match=r"'avx2' .* cannot run on this meta"):
        int8.execution_path(torch.device("meta"), "avx2")


def test_without_a_compiler_int8_runs_in_torchscript(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(int8_path.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setattr(int8_path, "compiled_kernels", lambda: None)
    assert int8_path.available_paths(CPU) == [int8_path.TORCHSCRIPT]


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
