"""ONNX export of basecaller variants and basecalling through onnxruntime, on real reads."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
from test_workflow import copy_workflow, demo_config, run_snakemake

from modelshrink.basecaller.model_file import load_basecaller
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.signal.reads import med_mad_normalise
from modelshrink.cli import main
from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.spec import ModelSpec
from modelshrink.merfish.storage import save_float

pytest.importorskip("onnxruntime")

#: Variant specs as in config.yaml (no fine-tuning, which changes nothing about export).
VARIANT_SPECS = {
    "fp16": {"quantize": {"scheme": "float16"}},
    "scale8": {"quantize": {"scheme": "scale", "bits": 8}},
    "pruned_per_channel8": {
        "prune": {
            "method": "magnitude",
            "sparsity": {"sublayers.*.cudnn_gru.weight_hh_l0": 0.5},
        },
        "quantize": {"scheme": "per_channel", "bits": 8},
    },
    "dynamic_int8": {"quantize": {"scheme": "dynamic_int8"}},
}


def _fastq(path: Path) -> dict[str, tuple[str, str]]:
    lines = path.read_text().split("\n")
    return {lines[i][1:]: (lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 1, 4)}


def _summary(path: Path) -> dict[str, str]:
    header, row = (line.split("\t") for line in path.read_text().splitlines())
    return dict(zip(header, row, strict=True))


@pytest.fixture(scope="module")
def real_chunks(shared_data: Path) -> torch.Tensor:
    """The first 4000 standardised samples of two real reads, [4000, 2, 1]."""
    files = find_read_files([shared_data / "taiyaki" / "reads"])
    reads = [read for read in iter_reads(files[:2])]
    columns = [med_mad_normalise(read.picoamps())[:4000] for read in reads]
    return torch.from_numpy(np.stack(columns, 1).astype(np.float32))[:, :, None]


ENGINES = ("torch", "onnx", "onnx-int8")


@pytest.fixture(scope="module")
def engine_calls(
    tmp_path_factory: pytest.TempPathFactory, converted_model: Path, shared_data: Path
) -> dict[str, tuple[Path, dict[str, str]]]:
    """The five real reads basecalled by the original under every engine: FASTQ, summary."""
    folder = tmp_path_factory.mktemp("calls")
    reads = shared_data / "taiyaki" / "reads"
    calls = {}
    for engine in ENGINES:
        fastq, summary = folder / f"{engine}.fastq", folder / f"{engine}.tsv"
        arguments = [
            "basecall",
            str(converted_model),
            str(reads),
            "-o",
            str(fastq),
            "--no-progress",
        ]
        assert main([*arguments, "--engine", engine, "--summary", str(summary)]) == 0
        calls[engine] = fastq, _summary(summary)
    return calls


def test_onnx_float32_basecalls_equal_pytorch_and_int8_runs(
    engine_calls: dict[str, tuple[Path, dict[str, str]]],
) -> None:
    torch_calls, onnx_calls, int8_calls = (_fastq(engine_calls[e][0]) for e in ENGINES)
    assert len(torch_calls) == 5
    assert {read: call[0] for read, call in onnx_calls.items()} == {
        read: call[0] for read, call in torch_calls.items()
    }
    paths = [engine_calls[engine][1]["execution_path"] for engine in ENGINES]
    assert paths[0].startswith("float32") and paths[1:] == ["onnx-float32", "onnx-int8"]
    # int8 (convolution and output layer quantized) changes calls, but not wholesale
    assert set(int8_calls) == set(torch_calls)
    lengths = [len(int8_calls[read][0]) / len(torch_calls[read][0]) for read in torch_calls]
    assert all(0.9 < ratio < 1.1 for ratio in lengths)
    assert any(int8_calls[read][0] != torch_calls[read][0] for read in torch_calls)


@pytest.mark.skipif(shutil.which("minimap2") is None, reason="minimap2 not installed")
def test_int8_onnx_identity_stays_near_float32(
    engine_calls: dict[str, tuple[Path, dict[str, str]]], shared_data: Path
) -> None:
    from modelshrink.evaluate.identity import read_identity

    reference = shared_data / "taiyaki" / "genomic_reference.fasta"
    medians = {
        engine: statistics.median(s.identity for s in read_identity(calls, reference))
        for engine, (calls, _) in engine_calls.items()
    }
    print(f"median read identity of the 5 real reads: {medians}")
    assert medians["onnx"] == medians["torch"] > 0.8
    assert abs(medians["onnx-int8"] - medians["onnx"]) < 0.02


@pytest.mark.parametrize("variant", sorted(VARIANT_SPECS))
def test_every_variant_exports_to_its_decoded_float32_network(
    tmp_path: Path, converted_model: Path, real_chunks: torch.Tensor, variant: str
) -> None:
    from modelshrink.basecaller.onnx_basecall import OnnxNetwork

    stored = tmp_path / f"{variant}.safetensors"
    spec = json.dumps(VARIANT_SPECS[variant])
    assert (
        main(["compress", str(converted_model), str(stored), "--name", variant, "--spec", spec])
        == 0
    )
    exported = tmp_path / f"{variant}.onnx"
    assert main(["export", str(stored), str(exported), "--format", "onnx"]) == 0
    with torch.inference_mode():
        expected = load_basecaller(stored, int8_execution=False)(real_chunks)
    scores = OnnxNetwork(exported)(real_chunks)
    assert scores.shape == expected.shape == (1000, 2, 40)
    assert torch.allclose(scores, expected, atol=1e-4)
    # a different time length and batch size run through the same graph
    assert OnnxNetwork(exported)(real_chunks[:2000, :1]).shape == (500, 1, 40)


def test_int8_export_quantizes_convolution_and_output_layer(
    tmp_path: Path, taiyaki_checkpoint: Path, capsys
) -> None:
    import onnx

    output = tmp_path / "int8.onnx"
    assert main(["export", str(taiyaki_checkpoint), str(output), "--precision", "int8"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"ConvInteger", "MatMulInteger", "GRU"} <= set(summary["nodes"])
    assert "Conv" not in summary["nodes"]
    metadata = {entry.key: entry.value for entry in onnx.load(output).metadata_props}
    assert metadata["precision"] == "int8"
    assert metadata["alphabet"] == "ACGT" and metadata["stride"] == "4"


def test_export_refuses_bad_input_with_one_line(tmp_path: Path, shared_data: Path, capsys) -> None:
    output = tmp_path / "out.onnx"
    assert main(["export", str(tmp_path / "none.safetensors"), str(output)]) == 1
    assert "does not exist" in capsys.readouterr().err
    merfish = tmp_path / "merfish.safetensors"
    save_float(merfish, AnglerFISH(ModelSpec(width=0.125)), "float32", 32)
    assert main(["export", str(merfish), str(output)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "merfish.safetensors" in error[0]
    assert "'merfish' model" in error[0]
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a model")
    assert main(["export", str(junk), str(output)]) == 1
    assert "junk.safetensors" in capsys.readouterr().err
    assert not output.exists()
    assert list(tmp_path.glob(".out.onnx*")) == []


def test_basecall_engine_mismatch_gets_one_clear_line(
    tmp_path: Path, taiyaki_checkpoint: Path, shared_data: Path, capsys
) -> None:
    reads = str(shared_data / "taiyaki" / "reads")
    exported = tmp_path / "model.onnx"
    assert main(["export", str(taiyaki_checkpoint), str(exported)]) == 0
    capsys.readouterr()
    assert main(["basecall", str(exported), reads, "--no-progress"]) == 1
    assert "model.onnx is an ONNX model; basecall it with --engine onnx" in capsys.readouterr().err
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(exported.read_bytes()[:1000])
    assert main(["basecall", str(broken), reads, "--engine", "onnx", "--no-progress"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "broken.onnx: not a runnable ONNX model" in error[0]
    arguments = ["basecall", str(exported), reads, "--engine", "onnx", "--device", "cuda"]
    assert main(arguments) == 1
    assert "--engine onnx runs on the CPU" in capsys.readouterr().err


def test_workflow_basecalls_with_the_configured_engine(tmp_path: Path) -> None:
    config = demo_config()
    config["basecall"] = {"engine": "onnx-int8"}
    workdir = copy_workflow(tmp_path / "wf", config)
    target = "results/basecalls/original/demo.fastq.gz"
    output = run_snakemake(workdir, "-n", "-p", "--cores", "2", target).stdout
    command = output.split("rule basecall_reads:", 1)[1].split("Shell command: ", 1)[1]
    assert command.startswith("modelshrink basecall results/models/original.safetensors ")
    settings = "results/settings/basecall.json"
    assert f" --settings {settings} " in command.split("\n", 1)[0]
    run_snakemake(workdir, settings, "--cores", "1")
    assert json.loads((workdir / settings).read_text())["basecall"]["engine"] == "onnx-int8"
    config["basecall"]["engine"] = "tensorrt"
    copy_workflow(workdir, config)
    refused = run_snakemake(workdir, "-n", "--cores", "2", target, check=False)
    assert refused.returncode != 0
    message = refused.stdout + refused.stderr
    assert "'tensorrt' is not one of ['torch', 'onnx', 'onnx-int8']" in message
