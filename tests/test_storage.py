"""The on-disk format: every encoding round-trips and stores the bytes it promises."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.safetensors_layout import stored_tensor_names
from modelshrink.toolbox.storage import (
    FORMAT_VERSION,
    AffineEncoding,
    DenseEncoding,
    SparseEncoding,
    TernaryEncoding,
    load_model,
    log8_decode,
    log8_encode,
    model_size_report,
    pack_bits,
    save_model,
    unpack_bits,
)

torch.set_num_threads(1)
ARCH = {"kind": "taiyaki-test", "layers": [1, 2, 3]}


def _weight(rows: int = 288, cols: int = 96, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))


def _save_one(tmp_path: Path, tensor: torch.Tensor, encoding=None) -> tuple[Path, dict]:
    path = tmp_path / "model.safetensors"
    encodings = {"w": encoding} if encoding is not None else None
    save_model(path, ARCH, {"w": tensor}, {"origin": "test"}, encodings)
    return path, model_size_report(path)


def test_dense_float32_round_trips_exactly_with_header(tmp_path: Path) -> None:
    tensors = {"sublayers.0.conv.weight": torch.randn(96, 1, 19), "scalar": torch.tensor(2.5)}
    path = tmp_path / "m.safetensors"
    save_model(path, ARCH, tensors, {"source": "unit test", "n": 3})
    model = load_model(path)
    assert model.architecture == ARCH
    assert model.metadata == {"source": "unit test", "n": 3}
    for name, tensor in tensors.items():
        assert model.tensors[name].dtype == torch.float32
        assert torch.equal(model.tensors[name], tensor)
    assert model.encodings["scalar"] == {"kind": "dense", "dtype": "float32", "shape": []}
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


@pytest.mark.parametrize(
    ("dtype", "name"), [(torch.float16, "float16"), (torch.bfloat16, "bfloat16")]
)
def test_half_precision_dense_halves_the_bytes(tmp_path: Path, dtype, name) -> None:
    weight = _weight()
    path, report = _save_one(tmp_path, weight, DenseEncoding(name))
    assert torch.equal(load_model(path).tensors["w"], weight.to(dtype).float())
    assert report["tensors"]["w"]["stored_bytes"] == weight.numel() * 2
    # a tensor already in half precision is stored in it by default
    path, report = _save_one(tmp_path, weight.to(dtype))
    assert report["tensors"]["w"]["stored_bytes"] == weight.numel() * 2


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 7, 8])
def test_affine_per_tensor_packs_codes_and_round_trips(tmp_path: Path, bits: int) -> None:
    weight = _weight()
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    scale, zero_point = float((weight.max() - weight.min()) / (qmax - qmin)), 1
    codes = (weight / scale + zero_point).round().clamp(qmin, qmax)
    expected = scale * (codes - zero_point)
    path, report = _save_one(tmp_path, weight, AffineEncoding(bits, scale, zero_point))
    decoded = load_model(path).tensors["w"]
    assert torch.allclose(decoded, expected, atol=1e-6)
    # codes packed: ceil(n * bits / 8) bytes + 4-byte scale + 1-byte zero point
    assert report["tensors"]["w"]["stored_bytes"] == math.ceil(weight.numel() * bits / 8) + 5
    # re-saving the decoded tensor stores exactly the same codes
    path2 = tmp_path / "again.safetensors"
    save_model(path2, ARCH, {"w": decoded}, encodings={"w": AffineEncoding(bits, scale, 1)})
    assert torch.equal(load_model(path2).tensors["w"], decoded)


def test_affine_per_channel_with_float16_scales(tmp_path: Path) -> None:
    weight = _weight()
    scale = (weight.abs().amax(dim=1) / 127).half()
    path, report = _save_one(tmp_path, weight, AffineEncoding(8, scale, 0, axis=0))
    decoded = load_model(path).tensors["w"]
    per_row_error = (decoded - weight).abs().amax(dim=1)
    assert bool((per_row_error <= scale.float() / 2 + 1e-6).all())
    # int8 codes + 288 fp16 scales; symmetric, so no zero points are stored
    assert report["tensors"]["w"]["stored_bytes"] == weight.numel() + 288 * 2
    spec = load_model(path).encoding_specs["w"]
    assert isinstance(spec, AffineEncoding) and spec.axis == 0
    assert spec.scale.dtype == torch.float16 and torch.equal(spec.scale, scale)


def test_ternary_is_two_bits_per_weight(tmp_path: Path) -> None:
    weight = _weight()
    path, report = _save_one(tmp_path, weight, TernaryEncoding(0.7))
    decoded = load_model(path).tensors["w"]
    expected = 0.7 * (weight / 0.7).round().clamp(-1, 1)
    assert torch.allclose(decoded, expected)
    assert torch.allclose(decoded.unique(), torch.tensor([-0.7, 0.0, 0.7]))
    assert report["tensors"]["w"]["stored_bytes"] == weight.numel() // 4 + 4


def test_half_sparse_float32_costs_mask_plus_nonzeros(tmp_path: Path) -> None:
    weight = _weight()
    flat = weight.view(-1)
    flat[
        torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(1))[
            : flat.numel() // 2
        ]
    ] = 0
    n = weight.numel()
    path, report = _save_one(tmp_path, weight, SparseEncoding())
    assert torch.equal(load_model(path).tensors["w"], weight)
    entry = report["tensors"]["w"]
    assert entry["nonzero_parameters"] == n // 2
    assert entry["stored_bytes"] == n // 8 + (n // 2) * 4
    assert report["file_bytes"] == report["header_bytes"] + report["tensor_bytes"]
    dense_bytes = _save_one(tmp_path, weight)[1]["file_bytes"]
    assert report["file_bytes"] < 0.65 * dense_bytes


def test_sparse_with_quantized_values(tmp_path: Path) -> None:
    weight = _weight()
    weight[weight.abs() < 0.7] = 0  # about half the weights
    nnz = int(torch.count_nonzero(weight))
    scale = weight.abs().amax(dim=1) / 7
    encoding = SparseEncoding(AffineEncoding(4, scale, 0, axis=0))
    path, report = _save_one(tmp_path, weight, encoding)
    decoded = load_model(path).tensors["w"]
    assert bool((decoded[weight == 0] == 0).all())
    assert bool(((decoded - weight).abs() <= scale[:, None] / 2 + 1e-6).all())
    assert (
        report["tensors"]["w"]["stored_bytes"] == weight.numel() // 8 + math.ceil(nnz / 2) + 288 * 4
    )


def test_empty_and_all_zero_tensors(tmp_path: Path) -> None:
    tensors = {"empty": torch.zeros(0), "bias_hh": torch.zeros(288)}
    encodings = {"empty": SparseEncoding(), "bias_hh": SparseEncoding()}
    path = tmp_path / "z.safetensors"
    save_model(path, ARCH, tensors, encodings=encodings)
    model = load_model(path)
    assert model.tensors["empty"].shape == (0,)
    assert torch.equal(model.tensors["bias_hh"], torch.zeros(288))
    # an all-zero tensor is its shape alone: no mask, no values
    assert model_size_report(path)["tensors"]["bias_hh"]["stored_bytes"] == 0


@pytest.mark.parametrize("bits", [2, 3, 5, 8])
def test_pack_bits_inverts(bits: int) -> None:
    codes = np.random.default_rng(0).integers(0, 2**bits, size=1001).astype(np.uint8)
    packed = pack_bits(codes, bits)
    assert packed.size == math.ceil(1001 * bits / 8)
    assert np.array_equal(unpack_bits(packed, bits, 1001), codes)


def test_not_a_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "model.checkpoint"
    path.write_bytes(b"\x80\x02not a safetensors file at all")
    with pytest.raises(ModelshrinkError, match=r"model\.checkpoint is not a safetensors"):
        load_model(path)
    with pytest.raises(ModelshrinkError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_plain_safetensors_without_our_header(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.ones(3)}, str(path), metadata={"format": "pt"})
    with pytest.raises(ModelshrinkError, match=r"plain\.safetensors lacks .*architecture"):
        load_model(path)


def test_unknown_format_version(tmp_path: Path) -> None:
    path = tmp_path / "future.safetensors"
    header = {"format": "modelshrink/99", "architecture": "{}", "encodings": "{}", "metadata": "{}"}
    save_file({"w": torch.ones(3)}, str(path), metadata=header)
    with pytest.raises(ModelshrinkError, match=rf"modelshrink/99.*{FORMAT_VERSION}"):
        load_model(path)


def test_missing_part_names_tensor(tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    encodings = {"w": {"kind": "affine", "bits": 4, "axis": None, "shape": [4]}}
    header = {
        "format": FORMAT_VERSION,
        "architecture": "{}",
        "metadata": "{}",
        "encodings": json.dumps(encodings),
    }
    save_file({"w:codes": torch.zeros(2, dtype=torch.uint8)}, str(path), metadata=header)
    with pytest.raises(ModelshrinkError, match=r"broken\.safetensors: tensor 'w'"):
        load_model(path)


def test_truncated_file(tmp_path: Path) -> None:
    path, _ = _save_one(tmp_path, _weight())
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelshrinkError, match=r"cut\.safetensors"):
        load_model(tmp_path / "cut.safetensors")
    header_length = struct.unpack("<Q", data[:8])[0]
    assert header_length < len(data)


def test_bad_inputs_fail_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    with pytest.raises(ModelshrinkError, match="bits 9"):
        AffineEncoding(9, 0.1)
    with pytest.raises(ModelshrinkError, match=r"'nope'.*expected names among \['w'\]"):
        save_model(path, ARCH, {"w": torch.ones(2)}, encodings={"nope": DenseEncoding()})
    with pytest.raises(ModelshrinkError, match="JSON"):
        save_model(path, {"bad": object()}, {"w": torch.ones(2)})
    with pytest.raises(ModelshrinkError, match="needs 288 scales"):
        save_model(
            path, ARCH, {"w": _weight()}, encodings={"w": AffineEncoding(8, torch.ones(5), axis=0)}
        )
    assert not any(tmp_path.iterdir())


def test_log8_scales_cost_one_byte_and_never_clip(tmp_path: Path) -> None:
    weight = _weight()
    exact = weight.abs().amax(dim=1) / 127
    largest, exponents = log8_encode(exact, round_up=True)
    scale = log8_decode(largest, exponents)
    assert bool((scale >= exact).all()) and bool((scale <= exact * 2 ** (1 / 16)).all())
    path, report = _save_one(tmp_path, weight, AffineEncoding(8, scale, 0, 0, "log8"))
    assert report["tensors"]["w"]["stored_bytes"] == weight.numel() + 288 + 4
    spec = load_model(path).encoding_specs["w"]
    assert spec.scale_format == "log8" and torch.equal(spec.scale, scale)
    codes = (weight / scale[:, None]).round()
    assert torch.equal(load_model(path).tensors["w"], codes * scale[:, None])


def test_encoded_tensors_share_one_blob_and_a_small_header(tmp_path: Path) -> None:
    tensors = {f"layer{i}.weight": _weight(seed=i) for i in range(6)}
    scale = torch.ones(288) / 127
    encodings = {name: AffineEncoding(8, scale, 0, 0, "log8") for name in tensors}
    path = tmp_path / "blob.safetensors"
    save_model(path, ARCH, tensors, encodings=encodings)
    data = path.read_bytes()
    header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
    assert sorted(header) == ["__metadata__", "modelshrink:encoded"]
    report = model_size_report(path)
    assert report["file_bytes"] == report["header_bytes"] + report["tensor_bytes"]
    assert report["header_bytes"] < 1000


def test_previous_format_is_read_when_dense(tmp_path: Path) -> None:
    path = tmp_path / "v1.safetensors"
    encodings = {"w": {"kind": "dense", "dtype": "float32", "shape": [3]}}
    header = {
        "format": "modelshrink/1",
        "architecture": "{}",
        "metadata": "{}",
        "encodings": json.dumps(encodings),
    }
    save_file({"w": torch.ones(3)}, str(path), metadata=header)
    assert torch.equal(load_model(path).tensors["w"], torch.ones(3))
    encodings["w"] = {"kind": "affine", "bits": 8, "axis": None, "shape": [3]}
    header["encodings"] = json.dumps(encodings)
    save_file({"w": torch.ones(3)}, str(path), metadata=header)
    with pytest.raises(ModelshrinkError, match=r"v1\.safetensors has the old format"):
        load_model(path)


def test_tensor_names_read_from_the_header_alone(tmp_path: Path) -> None:
    """The workflow checks variant names against a converted model before torch loads."""
    tensors = {"b": torch.zeros(3), "a": _weight(8, 4)}
    path = tmp_path / "m.safetensors"
    save_model(path, ARCH, tensors, encodings={"a": SparseEncoding(DenseEncoding("float16"))})
    assert sorted(stored_tensor_names(path)) == ["a", "b"]
    path.write_bytes(b"not a model")
    with pytest.raises(ModelshrinkError, match="not a safetensors model file"):
        stored_tensor_names(path)
