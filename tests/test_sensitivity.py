"""Sensitivity scan and proposer on real data: the shared checkpoint, real mapped-signal
chunks and real reads; and the merFISH scan on a tiny trained U-Net.

One scan (the full 3 x 3 grid on every weight matrix, with little data per setting) is
shared by the tests; it runs through the CLI, so the TSV and the heatmap are what a user
gets.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import torch
import yaml

from modelshrink.basecaller.compress.layout import TAIYAKI_PARAMETER_NAMES
from modelshrink.basecaller.compress.model_variant import build_variant
from modelshrink.basecaller.compress.spec import parse_variant
from modelshrink.basecaller.network import Architecture
from modelshrink.cli import main
from modelshrink.errors import ModelshrinkError
from modelshrink.sensitivity.damage import (
    DamageMeter,
    DamageSettings,
    evaluation_chunks,
    read_subset,
)
from modelshrink.sensitivity.grid import SPARSITY, ScanGrid, Setting, perturbed, read_rows
from modelshrink.sensitivity.propose import Option, greedy, propose
from modelshrink.sensitivity.scan import NUMERIC_COLUMNS, scanned_tensors
from modelshrink.sensitivity.size import FLOAT_BITS
from modelshrink.toolbox.storage import load_model

REPO = Path(__file__).resolve().parents[1]
#: two real reads that align from their start, whole (about 28k and 34k samples)
READS = ("0f776a08-1101-41d4-8097-89136494a46e.fast5", "db6b45aa-5d21-45cf-a435-05fb8f12e839.fast5")
SETTINGS = DamageSettings(chunks=6, chunk_samples=1000, reads=1, read_samples=40000)
GRU_MATRICES = [
    f"sublayers.{i}.{'layer.' if i % 2 else ''}cudnn_gru.weight_{m}_l0"
    for i in range(1, 6)
    for m in ("ih", "hh")
]


@pytest.fixture(scope="module")
def data(
    tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path, shared_data: Path
) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("sensitivity")
    original = folder / "original.safetensors"
    assert main(["convert", str(taiyaki_checkpoint), str(original)]) == 0
    taiyaki = shared_data / "taiyaki"
    return {
        "folder": folder,
        "original": original,
        "chunks": sorted((taiyaki / "mapped_signal").glob("*.hdf5")),
        "reads": [taiyaki / "reads" / name for name in READS],
        "reference": taiyaki / "genomic_reference.fasta",
    }


def _data_arguments(data: dict, settings: DamageSettings) -> list[str]:
    return [
        str(data["original"]),
        "--chunks-from",
        *map(str, data["chunks"]),
        "--reads",
        *map(str, data["reads"]),
        "--reference",
        str(data["reference"]),
        "--chunks",
        str(settings.chunks),
        "--chunk-samples",
        str(settings.chunk_samples),
        "--read-count",
        str(settings.reads),
        "--read-samples",
        str(settings.read_samples),
    ]


@pytest.fixture(scope="module")
def scan(data: dict) -> list[dict]:
    table, heatmap = data["folder"] / "scan.tsv", data["folder"] / "scan.svg"
    argv = ["sensitivity", "scan", *_data_arguments(data, SETTINGS), "--threads", "2"]
    assert main([*argv, "-o", str(table), "--heatmap", str(heatmap)]) == 0
    assert heatmap.read_text().startswith("<?xml")
    return read_rows(table, NUMERIC_COLUMNS)


@pytest.fixture(scope="module")
def meter(data: dict) -> DamageMeter:
    stored = load_model(data["original"])
    architecture = Architecture.from_dict(stored.architecture)
    chunks = evaluation_chunks(data["chunks"], SETTINGS, stride=4)
    reads = read_subset(data["reads"], SETTINGS)
    return DamageMeter(architecture, stored.tensors, chunks, reads, data["reference"])


@pytest.mark.slow
def test_scan_covers_every_weight_matrix_with_three_sparsities_and_bit_widths(scan) -> None:
    tensors = sorted(dict.fromkeys(row["tensor"] for row in scan))
    assert tensors == sorted(
        ["sublayers.0.conv.weight", *GRU_MATRICES, "sublayers.6.linear.weight"]
    )
    for name in tensors:
        rows = [row for row in scan if row["tensor"] == name]
        assert sorted(r["value"] for r in rows if r["kind"] == "sparsity") == [0.25, 0.5, 0.75]
        assert sorted(r["value"] for r in rows if r["kind"] == "bits") == [4, 6, 8]
        (original,) = [r for r in rows if r["kind"] == "none"]
        assert original["kl_divergence"] == original["identity_loss_points"] == 0


@pytest.mark.slow
def test_more_pruning_and_fewer_bits_damage_more_on_real_chunks(scan) -> None:
    def kl(name: str, kind: str, value: float) -> float:
        (row,) = [r for r in scan if (r["tensor"], r["kind"], r["value"]) == (name, kind, value)]
        return row["kl_divergence"]

    for name in dict.fromkeys(row["tensor"] for row in scan):
        assert kl(name, "sparsity", 0.75) > kl(name, "sparsity", 0.25) > 0, name
        assert kl(name, "bits", 4) > kl(name, "bits", 8) >= 0, name
    # three quarters of a GRU's input weights gone: the network no longer calls the read
    assert kl("sublayers.5.layer.cudnn_gru.weight_ih_l0", "sparsity", 0.75) > 0.1
    # the CRF loss of the true bases rises with it
    (worst,) = [
        r
        for r in scan
        if (r["tensor"], r["kind"], r["value"])
        == ("sublayers.5.layer.cudnn_gru.weight_ih_l0", "sparsity", 0.75)
    ]
    assert worst["crf_loss_change"] > 0.05


@pytest.mark.slow
def test_sparsity_zero_does_no_damage(meter: DamageMeter) -> None:
    name = "sublayers.3.layer.cudnn_gru.weight_hh_l0"
    tensors = dict(meter.tensors)
    tensors[name] = perturbed(tensors[name], Setting(SPARSITY, 0.0), ScanGrid())
    assert torch.equal(tensors[name], meter.tensors[name])
    damage = meter.measure(tensors, 3)
    assert abs(damage.kl_divergence) < 1e-6
    assert damage.crf_loss_change == pytest.approx(0, abs=1e-6)
    assert damage.identity_loss_points == 0


def test_scanned_tensors_are_the_weight_matrices() -> None:
    shapes = {name: torch.zeros(2, 2) for name in TAIYAKI_PARAMETER_NAMES if "weight" in name}
    shapes |= {name: torch.zeros(2) for name in TAIYAKI_PARAMETER_NAMES if "bias" in name}
    assert sorted(scanned_tensors(shapes)) == sorted(
        ["sublayers.0.conv.weight", *GRU_MATRICES, "sublayers.6.linear.weight"]
    )


def test_greedy_takes_cheap_damage_per_byte_first_and_keeps_the_budget() -> None:
    def options(free_bits: float, damage4: float) -> list[Option]:
        return [
            Option(0.0, FLOAT_BITS, 3200.0, 0.0),
            Option(0.0, 8, 800.0, free_bits),
            Option(0.0, 4, 400.0, damage4),
        ]

    table = {"robust": options(0.0, 0.1), "fragile": options(0.01, 3.0)}
    proposal = greedy(table, budget_points=0.5)
    assert proposal.bits == {"robust": 4, "fragile": 8}
    assert proposal.predicted_points == pytest.approx(0.11)
    assert greedy(table, budget_points=5).bits == {"robust": 4, "fragile": 4}
    # a size target: moves go on until the estimate reaches it, the damage notwithstanding
    assert greedy(table, target_bits=800 / 8 * 8).bits == {"robust": 4, "fragile": 4}


@pytest.mark.slow
def test_proposal_within_budget_is_verified_and_loads_through_schema_and_compress(
    scan: list[dict], data: dict, meter: DamageMeter, tmp_path: Path
) -> None:
    spec_file, report = tmp_path / "proposed.yaml", tmp_path / "proposed.json"
    argv = ["sensitivity", "propose", *_data_arguments(data, SETTINGS)]
    argv += ["--scan", str(data["folder"] / "scan.tsv"), "--budget-points", "1.0"]
    assert main([*argv, "-o", str(spec_file), "--report", str(report)]) == 0
    snippet = yaml.safe_load(spec_file.read_text())
    spec = snippet["variants"]["proposed"]
    schema = yaml.safe_load((REPO / "config/schema/config.schema.yaml").read_text())
    jsonschema.validate(snippet, {**schema, "required": []})
    parsed = parse_variant("proposed", spec, TAIYAKI_PARAMETER_NAMES)
    assert parsed.quantize is not None and parsed.quantize.bits_by_param
    # every tensor is quantized (biases at the widest width), so it beats float32 4x+
    output = tmp_path / "proposed.safetensors"
    argv = ["compress", str(data["original"]), str(output), "--name", "proposed"]
    assert main([*argv, "--spec", str(spec_file)]) == 0
    ratio = data["original"].stat().st_size / output.stat().st_size
    assert ratio > 4
    verified = yaml.safe_load(report.read_text())["verified"]
    assert verified["identity_loss_points"] <= 1.0
    assert meter.measure(load_model(output).tensors).identity_loss_points <= 1.0


@pytest.mark.slow
def test_target_ratio_proposal_reaches_the_size(scan: list[dict], data: dict, meter) -> None:
    proposal, spec = propose(scan, data["original"], meter, target_ratio=6)
    assert data["original"].stat().st_size / proposal.file_bytes > 5.5
    assert proposal.verified is not None
    assert parse_variant("proposed", spec, TAIYAKI_PARAMETER_NAMES).name == "proposed"


def test_per_parameter_bits_store_each_tensor_at_its_width(data: dict, tmp_path: Path) -> None:
    spec = parse_variant(
        "mixed",
        {
            "quantize": {
                "scheme": "per_channel",
                "bits": {"sublayers.*.cudnn_gru.weight_hh_l0": 4, "sublayers.0.conv.weight": 6},
            }
        },
        TAIYAKI_PARAMETER_NAMES,
    )
    output = tmp_path / "mixed.safetensors"
    build_variant(data["original"], output, spec)
    encodings = load_model(output).encodings
    stored_bits = {name: (info.get("values", info)).get("bits") for name, info in encodings.items()}
    assert stored_bits["sublayers.2.cudnn_gru.weight_hh_l0"] == 4
    assert stored_bits["sublayers.0.conv.weight"] == 6
    assert stored_bits["sublayers.2.cudnn_gru.weight_ih_l0"] is None  # left float32


@pytest.mark.parametrize(
    ("quantize", "message"),
    [
        ({"scheme": "per_channel", "bits": {"sublayers.9.x": 4}}, r"bits entry.*sublayers\.9"),
        ({"scheme": "per_channel", "bits": {"sublayers.0.conv.weight": 9}}, r"from 2 to 8"),
        (
            {"scheme": "per_channel", "bits": {"sublayers.0.conv.weight": 4}, "params": "all"},
            r"params: per-parameter bits",
        ),
        ({"scheme": "float16", "bits": {"sublayers.0.conv.weight": 4}}, r"only the schemes"),
    ],
)
def test_per_parameter_bits_are_checked(quantize: dict, message: str) -> None:
    with pytest.raises(ModelshrinkError, match=message):
        parse_variant("v", {"quantize": quantize}, TAIYAKI_PARAMETER_NAMES)
