"""How merFISH variants execute: CPU detection, path choice, fused glue, batched timing."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from modelshrink.cpu_features import CpuFeatures, detect
from modelshrink.errors import ModelshrinkError
from modelshrink.merfish import int8_glue, quantize
from modelshrink.merfish.inference import (
    PIXELS_PER_CALL,
    make_execution,
    predict,
    tiles_per_call,
    time_per_tile,
)
from modelshrink.merfish.int8_glue import aten_glue, best_glue, fused_glue
from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.spec import ModelSpec
from modelshrink.merfish.storage import StoredMerfishModel

torch.set_num_threads(1)

ZEN3 = [
    "fpu",
    "sse4_1",
    "sse4_2",
    "avx",
    "f16c",
    "fma",
    "avx2",
    "bmi2",
    "sha_ni",
    "vaes",
    "vpclmulqdq",
]
ICE_LAKE = [*ZEN3, "avx512f", "avx512bw", "avx512vl", "avx512_vnni"]
SAPPHIRE_RAPIDS = [*ICE_LAKE, "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"]
CONVOLUTIONS = 3 * 5 * 3 + 2 * 2


def test_cpu_features_from_flags() -> None:
    zen3 = CpuFeatures.from_flags(set(ZEN3))
    assert (zen3.avx2, zen3.avx512, zen3.vnni, zen3.amx, zen3.native_fp16) == (
        True,
        False,
        False,
        False,
        False,
    )
    assert zen3.describe() == "avx2, no vnni"
    assert CpuFeatures.from_flags(set(ICE_LAKE)).describe() == "avx512 vnni"
    sapphire = CpuFeatures.from_flags(set(SAPPHIRE_RAPIDS))
    assert sapphire.describe() == "avx512 vnni amx" and sapphire.native_fp16
    alder_lake = CpuFeatures.from_flags({*ZEN3, "avx_vnni"})  # VNNI without AVX-512
    assert alder_lake.describe() == "avx2 vnni" and not alder_lake.avx512
    assert CpuFeatures.from_flags({"avx512f"}).describe() == "x86 without avx2"


def test_this_machine_is_detected() -> None:
    features = detect()
    assert features.describe()
    if features.x86 and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        assert features.avx2


def _float_input(layout: str) -> torch.Tensor:
    x = torch.randn(3, 20, 9, 7, generator=torch.Generator().manual_seed(1)) * 2
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    return x[:, 4:16] if layout == "channel_slice" else x  # a slice: the network's input


@pytest.fixture(scope="module")
def fused():
    glue = fused_glue()
    if glue is None:
        pytest.skip("no C++ compiler here: only the ATen glue runs")
    return glue


@pytest.mark.parametrize("layout", ["channels_last", "contiguous", "channel_slice"])
@pytest.mark.parametrize("elu", [False, True])
@pytest.mark.parametrize("pad", [0, 1])
def test_fused_quantize_pad_matches_aten(fused, layout: str, elu: bool, pad: int) -> None:
    x = _float_input(layout)
    expected = aten_glue().quantize_pad(x, 0.013, 97, elu, pad)
    got = fused.quantize_pad(x, 0.013, 97, elu, pad)
    assert got.dtype == torch.uint8 and got.shape == expected.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    difference = (got.int() - expected.int()).abs()
    # ELU's exp is a polynomial in the fused kernel: at most a rare off-by-one rounding
    assert int(difference.max()) <= (1 if elu else 0)
    assert int((difference > 0).sum()) <= x.numel() // 1000
    # clamped at 255; below, ELU's floor of -1 lands on code 97 - 1 / 0.013 = 20
    assert expected.max() == 255 and expected.min() == (20 if elu else 0)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("pad", [0, 1])
def test_fused_lookup_pad_matches_aten(fused, dtype: torch.dtype, pad: int) -> None:
    generator = torch.Generator().manual_seed(2)
    codes = torch.randint(0, 256, (2, 5, 6, 4), dtype=torch.uint8, generator=generator)
    codes = codes.contiguous(memory_format=torch.channels_last)
    table = (torch.randn(256, generator=generator) * 50 + 128).clamp(0, 255).to(dtype)
    expected = aten_glue().lookup_pad(codes, table, pad)
    got = fused.lookup_pad(codes, table, pad)
    assert torch.equal(got, expected) and got.dtype == dtype
    assert got.shape == (2, 5, 6 + 2 * pad, 4 + 2 * pad)


def test_fused_glue_names_bad_input(fused) -> None:
    with pytest.raises(RuntimeError, match="quantize_pad: pad must be 0 or 1, got 2"):
        fused.quantize_pad(torch.zeros(1, 2, 4, 4), 0.1, 0, False, 2)
    with pytest.raises(RuntimeError, match="lookup_pad: uint8 input expected"):
        fused.lookup_pad(torch.zeros(1, 2, 4, 4), torch.zeros(256), 0)


@pytest.fixture(scope="module")
def network() -> AnglerFISH:
    torch.manual_seed(0)
    return AnglerFISH(ModelSpec(width=0.125)).eval()


@pytest.fixture(scope="module")
def int8_model(network: AnglerFISH) -> StoredMerfishModel:
    calibration = quantize.example_input(16, batch=4)
    converted = quantize.quantize_static(network, calibration)
    return StoredMerfishModel("static_int8", converted, network.spec, 16, {})


def _stored(network: AnglerFISH, variant: str, info: dict | None = None) -> StoredMerfishModel:
    return StoredMerfishModel(variant, network, network.spec, 16, info or {})


AVX2_ONLY = CpuFeatures.from_flags(set(ZEN3))
WITH_FP16 = CpuFeatures.from_flags(set(SAPPHIRE_RAPIDS))


def test_auto_runs_int8_on_onednn_with_the_fastest_glue(int8_model: StoredMerfishModel) -> None:
    execution = make_execution(int8_model, "auto", cpu=AVX2_ONLY)
    glue = "fused" if fused_glue() else "aten"
    assert execution.runtime == "onednn" and execution.int8_convolutions == CONVOLUTIONS
    assert execution.path == f"onednn int8 conv + {glue} glue, channels-last (avx2, no vnni)"
    images = quantize.example_input(16, batch=3)
    reference = int8_model.module(images)  # int8 weights, float arithmetic
    with torch.no_grad():
        got = execution.run(images)
    assert got.shape == reference.shape and got.is_contiguous()
    assert (torch.sigmoid(got) - torch.sigmoid(reference)).abs().max() < 0.1
    described = execution.described()
    assert described["execution_path"] == execution.path and described["runtime"] == "onednn"


def test_without_a_compiler_int8_runs_with_aten_glue(
    int8_model: StoredMerfishModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(int8_glue, "build_inline", lambda *args: None)  # as if g++ failed
    assert best_glue().name == "aten"
    execution = make_execution(int8_model, "auto", cpu=AVX2_ONLY)
    assert execution.path == "onednn int8 conv + aten glue, channels-last (avx2, no vnni)"
    assert execution.int8_convolutions == CONVOLUTIONS


def test_int8_off_x86_runs_the_reference_graph(int8_model: StoredMerfishModel) -> None:
    arm = dataclasses.replace(AVX2_ONLY, x86=False, avx2=False)
    execution = make_execution(int8_model, "auto", cpu=arm)
    assert execution.runtime == "eager" and execution.int8_convolutions is None
    assert execution.path == "eager reference graph (int8 weights, float32 math)"
    assert execution.run is int8_model.module


def test_float16_runs_natively_only_with_float16_arithmetic(network: AnglerFISH) -> None:
    images = quantize.example_input(16, batch=2)
    halved = AnglerFISH(network.spec)  # native float16 converts the module it is given
    halved.load_state_dict(network.state_dict())
    with torch.no_grad():
        expected = network(images)
        widened = make_execution(_stored(network, "fp16"), "auto", cpu=AVX2_ONLY)
        assert widened.path == "eager float32 (stored float16; no native float16 here)"
        assert torch.equal(widened.run(images), expected)
        native = make_execution(_stored(halved.eval(), "fp16"), "auto", cpu=WITH_FP16)
        assert native.path == "eager float16 (stored float16; native on avx512 vnni amx)"
        output = native.run(images)
    assert output.dtype == torch.float32 and next(halved.parameters()).dtype == torch.float16
    assert (torch.sigmoid(output) - torch.sigmoid(expected)).abs().max() < 0.02


@pytest.mark.parametrize(
    ("variant", "info", "path"),
    [
        ("float32", {}, "eager float32"),
        ("pruned", {}, "eager float32 (stored sparse, dense kernels)"),
        (
            "dynamic_int8",
            {"converted_modules": []},
            "eager float32 (dynamic int8 converted 0 layers)",
        ),
    ],
)
def test_float_variants_say_they_run_float32(network, variant: str, info: dict, path: str) -> None:
    execution = make_execution(_stored(network, variant, info), "auto", cpu=AVX2_ONLY)
    assert (execution.runtime, execution.path) == ("eager", path)


def test_unknown_runtime_is_named(network: AnglerFISH) -> None:
    with pytest.raises(ModelshrinkError, match="--runtime: expected one of auto, eager"):
        make_execution(_stored(network, "float32"), "fast")


class CountingRunner:
    """Records the batch sizes it is called with; returns zeros of the output's shape."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(x))
        return torch.zeros(len(x), 17, *x.shape[-2:])


def test_predict_and_timing_run_batches_of_tiles() -> None:
    assert tiles_per_call(32) == PIXELS_PER_CALL // 1024 == 64
    assert (tiles_per_call(64), tiles_per_call(256), tiles_per_call(512)) == (16, 1, 1)
    images = torch.zeros(40, 16, 64, 64)
    variant = CountingRunner()
    probabilities = predict(variant, images)
    assert probabilities.shape == (40, 17, 64, 64) and float(probabilities.max()) == 0.5
    assert variant.batches == [16, 16, 8]
    variant, reference = CountingRunner(), CountingRunner()
    timing = time_per_tile(variant, images, repeats=5, reference=reference, warmup=2)
    assert variant.batches == reference.batches == [16] * 7
    assert timing["repeats"] == 5 and timing["tiles_per_call"] == 16
    assert timing["speedup"] > 0 and timing["reference_median_seconds"] > 0
    alone = time_per_tile(CountingRunner(), images[:3], repeats=2)
    assert alone["tiles_per_call"] == 3 and "speedup" not in alone
