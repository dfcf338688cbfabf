"""`modelshrink compress` end to end on the real converted Taiyaki model."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modelshrink.basecaller.basecall import Basecaller, BasecallSettings
from modelshrink.basecaller.compress.int8_gru import Int8GRU
from modelshrink.basecaller.model_file import load_basecaller
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.cli import main
from modelshrink.evaluate.identity import read_identity, summarise
from modelshrink.toolbox.storage import load_model

torch.set_num_threads(1)
GRU_WEIGHTS = "sublayers.*.cudnn_gru.weight_*"


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path) -> Path:
    path = tmp_path_factory.mktemp("compress") / "original.safetensors"
    assert main(["convert", str(taiyaki_checkpoint), str(path)]) == 0
    return path


def _compress(original: Path, tmp_path: Path, name: str, spec: dict) -> tuple[Path, dict]:
    output, report = tmp_path / f"{name}.safetensors", tmp_path / f"{name}.json"
    argv = ["compress", str(original), str(output), "--name", name, "--spec", json.dumps(spec)]
    assert main([*argv, "--report", str(report)]) == 0
    return output, json.loads(report.read_text())


def test_per_channel_int8_is_3_9_times_smaller(original: Path, tmp_path: Path) -> None:
    spec = {"quantize": {"scheme": "per_channel", "bits": 8}}
    path, report = _compress(original, tmp_path, "pc8", spec)
    assert report["bytes"] == path.stat().st_size
    assert report["original_bytes"] == original.stat().st_size
    assert report["ratio"] >= 3.9
    assert report["spec"] == spec and report["finetune"] is None
    assert report["parameters"] == 285_160
    assert report["bits_per_parameter"] == pytest.approx(8 * report["bytes"] / 285_160)
    assert report["macs_per_sample"] == pytest.approx(70_536)


def test_half_pruned_gru_weights(original: Path, tmp_path: Path) -> None:
    spec_file = tmp_path / "config.yaml"
    spec_file.write_text(
        f"variants:\n  p50:\n    prune:\n      sparsity: {{'{GRU_WEIGHTS}': 0.5}}\n"
    )
    output, report = tmp_path / "p50.safetensors", tmp_path / "p50.json"
    argv = ["compress", str(original), str(output), "--name", "p50", "--spec", str(spec_file)]
    assert main([*argv, "--report", str(report)]) == 0
    report = json.loads(report.read_text())
    stored = load_model(output).tensors
    gru = [name for name in stored if "cudnn_gru.weight_" in name]
    assert len(gru) == 10
    for name in gru:
        zeros = stored[name].numel() - int(torch.count_nonzero(stored[name]))
        assert zeros == math.ceil(0.5 * stored[name].numel())
    assert report["nonzero_parameters"] == sum(int(torch.count_nonzero(t)) for t in stored.values())
    pruned = sum(stored[name].numel() // 2 for name in gru)
    assert report["sparse_macs_per_sample"] == pytest.approx((70_536 * 4 - pruned) / 4)
    assert report["bytes"] == output.stat().st_size and report["ratio"] > 1.8


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('{"quantize": {"scheme": "scale", "bits": 9}}', "quantize.bits: 9"),
        ('{"prune": {"sparsity": {"sublayers.2.gru": 0.5}}}', "valid names: sublayers.0"),
        ('{"prune": {"sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 1.5}}}', "[0, 1)"),
        (
            '{"prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}}, '
            '"quantize": {"scheme": "scale"}, "order": ["quantize", "prune"]}',
            "quantizing before pruning",
        ),
        (
            '{"prune": {"sparsity": {"sublayers.0.conv.weight": 0.1}}, "finetune": {"steps": 3}}',
            "needs training data",
        ),
        (
            '{"prune": {"method": "obs", "sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 0.5}}}',
            "prune: method obs needs training data",
        ),
        ("{not json", "neither an existing file nor JSON"),
    ],
)
def test_bad_specs_give_one_line(
    original: Path, tmp_path: Path, capsys: pytest.CaptureFixture, spec: str, message: str
) -> None:
    output = tmp_path / "bad.safetensors"
    argv = ["compress", str(original), str(output), "--name", "bad", "--spec", spec]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
    assert error.startswith("modelshrink compress: error: ")
    assert not output.exists()


def test_check_only_does_not_import_torch() -> None:
    code = (
        "import sys; from modelshrink.cli import main; "
        "rc = main(['compress', '--spec', sys.argv[1], '--check-only']); "
        "assert 'torch' not in sys.modules; sys.exit(rc)"
    )
    good = json.dumps({"prune": {"sparsity": {GRU_WEIGHTS: 0.5}}})
    run = subprocess.run([sys.executable, "-c", code, good], capture_output=True, text=True)
    assert run.returncode == 0 and "spec OK" in run.stdout, run.stderr
    bad = json.dumps({"quantize": {"scheme": "per_channel", "bits": 1}})
    run = subprocess.run([sys.executable, "-c", code, bad], capture_output=True, text=True)
    assert run.returncode == 1 and "variants.variant.quantize.bits: 1" in run.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"prune": {"method": "obs", "sparsity": {"sublayers.0.conv.weight": 0.5}}},
            "prune.sparsity: method obs prunes GRU weight matrices only, not "
            "sublayers.0.conv.weight",
        ),
        (
            {"prune": {"method": "structured", "sparsity": {"sublayers.6.linear.weight": 0.2}}},
            "prune.sparsity: sublayers.6 is the output layer, whose units structured pruning "
            "cannot remove",
        ),
    ],
)
def test_check_only_refuses_tensors_the_method_cannot_prune(
    capsys: pytest.CaptureFixture, spec: dict, message: str
) -> None:
    assert main(["compress", "--spec", json.dumps(spec), "--check-only"]) == 1
    captured = capsys.readouterr()
    assert "spec OK" not in captured.out
    error = captured.err.strip()
    assert len(error.splitlines()) == 1 and message in error, error


def test_obs_pruning_calibrates_on_real_chunks_and_keeps_the_network_calling(
    original: Path, tmp_path: Path, shared_data: Path
) -> None:
    """Half the GRU weights by OBS, no fine-tuning: magnitude pruning calls nothing
    here (identity 0); OBS keeps the real reads mapping."""
    half = {
        "sublayers.*.cudnn_gru.weight_ih_l0": 0.375,
        "sublayers.*.cudnn_gru.weight_hh_l0": 0.625,
    }
    output, report = tmp_path / "obs.safetensors", tmp_path / "obs.json"
    mapped = sorted((shared_data / "taiyaki" / "mapped_signal").glob("*.hdf5"))
    spec = json.dumps({"prune": {"method": "obs", "sparsity": half}})
    argv = ["compress", str(original), str(output), "--name", "obs", "--spec", spec]
    assert main([*argv, "--report", str(report), "--training", *map(str, mapped)]) == 0
    stored = load_model(output).tensors
    for name, tensor in stored.items():
        if "cudnn_gru.weight_" in name:
            fraction = 0.375 if name.endswith("ih_l0") else 0.625
            assert tensor.numel() - int(torch.count_nonzero(tensor)) == fraction * tensor.numel()
    assert _median_identity(output, shared_data, tmp_path) > 0.6


def _median_identity(model: Path, shared_data: Path, tmp_path: Path) -> float:
    reads = list(iter_reads(find_read_files([shared_data / "taiyaki" / "reads"])))
    calls = Basecaller(load_basecaller(model), BasecallSettings()).call(reads)
    fasta = tmp_path / f"{model.stem}.fasta"
    fasta.write_text("".join(f">{call.read_id}\n{call.sequence}\n" for call in calls))
    reference = shared_data / "taiyaki" / "genomic_reference.fasta"
    return summarise(read_identity(fasta, reference)).median_identity


def test_dynamic_int8_variant_loads_from_disk_and_basecalls(
    original: Path, tmp_path: Path, shared_data: Path
) -> None:
    path, report = _compress(original, tmp_path, "dyn", {"quantize": {"scheme": "dynamic_int8"}})
    assert report["execution"] == "int8" and report["ratio"] > 3.6
    network = load_basecaller(path)
    gru = network.sublayers[1].layer.cudnn_gru  # a Reverse-wrapped GRU
    assert isinstance(gru, Int8GRU)
    assert "quantized.dynamic" in type(network.sublayers[6].linear).__module__
    int8 = _median_identity(path, shared_data, tmp_path)
    fp32 = _median_identity(original, shared_data, tmp_path)
    assert fp32 > 0.85
    assert abs(int8 - fp32) < 0.02
