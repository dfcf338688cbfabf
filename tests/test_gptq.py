"""GPTQ: codes on the per-channel grid, chosen so each layer's outputs stay closer to the
original's than rounding to nearest leaves them; zeros stay zero; the real model at
5 bits stays near the original where rounding does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from compress_fixtures import taiyaki_architecture, taiyaki_state_dict
from test_obs_prune import correlated_inputs, scores

from modelshrink.basecaller.compress.gptq import gptq_matrix, quantize_gptq
from modelshrink.basecaller.compress.model_variant import check_training_files
from modelshrink.basecaller.compress.obs_prune import calibration_signals
from modelshrink.basecaller.compress.spec import parse_variant
from modelshrink.basecaller.compress.training_set import load_training_set
from modelshrink.cli import main
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.quantize import PerChannelConfig, quantize_per_channel
from modelshrink.toolbox.storage import AffineEncoding, load_model

torch.set_num_threads(1)
SIZE = 16


def _output_error(weight: torch.Tensor, changed: torch.Tensor, inputs: torch.Tensor) -> float:
    return float(((weight - changed) @ inputs).square().sum())


def _on_grid(values: torch.Tensor, scale: torch.Tensor, bits: int) -> bool:
    codes = values / scale.reshape(-1, *([1] * (values.dim() - 1)))
    return bool(torch.all((codes - codes.round()).abs() < 1e-4)) and bool(
        codes.abs().max() <= 2 ** (bits - 1) - 1 + 1e-4
    )


def test_codes_lie_on_the_per_channel_grid_and_cut_the_output_error() -> None:
    inputs = correlated_inputs(12)
    weight = torch.randn(9, 12, generator=torch.Generator().manual_seed(1))
    rounded, encoding = quantize_per_channel(weight, PerChannelConfig(bits=4))
    solved = gptq_matrix(weight, inputs @ inputs.T, encoding.scale, 4)
    assert _on_grid(solved, encoding.scale.to(torch.float32), 4)
    assert _output_error(weight, solved, inputs) < 0.5 * _output_error(weight, rounded, inputs)


def test_zeros_stay_zero_and_the_bias_column_absorbs_error() -> None:
    inputs = torch.cat([correlated_inputs(8), torch.ones(1, 2000)])
    weight = torch.randn(6, 9, generator=torch.Generator().manual_seed(2))
    weight[:, [1, 4]] = 0
    scale = quantize_per_channel(weight[:, :-1], PerChannelConfig(bits=3))[1].scale
    solved = gptq_matrix(weight, inputs @ inputs.T, scale, 3, fixed=1)
    assert torch.all(solved[:, [1, 4]] == 0)
    assert _on_grid(solved[:, :-1], scale.to(torch.float32), 3)
    assert not torch.allclose(solved[:, -1], weight[:, -1])


def test_network_quantized_by_gptq_stays_closer_to_the_original() -> None:
    architecture = taiyaki_architecture(SIZE)
    tensors = {name: tensor / 2 for name, tensor in taiyaki_state_dict(0, SIZE).items()}
    calibration = torch.randn(800, 12, 1, generator=torch.Generator().manual_seed(4))
    bits = {name: 4 for name in tensors if "bias_hh" not in name}
    gptq, encodings = quantize_gptq(architecture, tensors, bits, PerChannelConfig(), calibration)
    assert set(encodings) == set(bits)
    for name, encoding in encodings.items():
        assert isinstance(encoding, AffineEncoding) and encoding.bits == 4
        if gptq[name].dim() > 1:
            assert _on_grid(gptq[name], encoding.scale.to(torch.float32), 4)
    rounded = {
        name: quantize_per_channel(tensor, PerChannelConfig(bits=4))[0] if name in bits else tensor
        for name, tensor in tensors.items()
    }
    held_out = torch.randn(800, 6, 1, generator=torch.Generator().manual_seed(5))
    original = scores(architecture, tensors, held_out)
    gptq_error = (scores(architecture, gptq, held_out) - original).square().mean()
    rounded_error = (scores(architecture, rounded, held_out) - original).square().mean()
    assert gptq_error < 0.5 * rounded_error


def test_gptq_needs_the_per_channel_scheme_and_calibration_data() -> None:
    with pytest.raises(ModelshrinkError, match=r"x.quantize.method: gptq chooses per-channel"):
        parse_variant("x", {"quantize": {"scheme": "scale", "method": "gptq"}})
    with pytest.raises(ModelshrinkError, match=r"x.quantize.method: 'optimal' is not one of"):
        parse_variant("x", {"quantize": {"scheme": "per_channel", "method": "optimal"}})
    spec = parse_variant("x", {"quantize": {"scheme": "per_channel", "method": "gptq"}})
    assert spec.needs_training and not spec.needs_labels
    with pytest.raises(ModelshrinkError, match=r"variants.x.quantize: method gptq needs training"):
        check_training_files(spec, [])
    architecture = taiyaki_architecture(SIZE)
    tensors = taiyaki_state_dict(0, SIZE)
    with pytest.raises(ModelshrinkError, match="needs calibration signal"):
        quantize_gptq(architecture, tensors, {}, PerChannelConfig(), torch.zeros(100, 0, 1))


def test_five_bit_gptq_of_the_real_model_is_six_times_smaller_and_near_the_original(
    converted_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    """Calibrated on Taiyaki's real mapped-signal chunks; scored on real chunks by how far
    the network's scores move from the original's, against rounding to nearest."""
    mapped = sorted((shared_data / "taiyaki" / "mapped_signal").glob("*.hdf5"))
    five_bits = {"sublayers.*.weight*": 5, "sublayers.*.bias*": 8}
    paths = {}
    for method in ("gptq", "round"):
        paths[method] = tmp_path / f"{method}.safetensors"
        spec = {"quantize": {"scheme": "per_channel", "method": method, "bits": five_bits}}
        argv = ["compress", str(converted_model), str(paths[method]), "--name", method]
        argv += ["--spec", json.dumps(spec), "--training", *map(str, mapped)]
        assert main(argv) == 0
    original = load_model(converted_model)
    assert converted_model.stat().st_size >= 6 * paths["gptq"].stat().st_size
    chunks = calibration_signals(load_training_set(mapped, 2000, 4, labelled=False), seed=7)
    reference = scores(original.architecture, original.tensors, chunks)
    error = {
        method: float(
            (scores(original.architecture, load_model(path).tensors, chunks) - reference)
            .square()
            .mean()
        )
        for method, path in paths.items()
    }
    assert error["gptq"] < 0.5 * error["round"], error
