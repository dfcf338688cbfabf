"""Training on real signal: raw fast5 reads as unlabelled training data (distillation, OBS
calibration), the CRF objective refused on them, what a variant learned from in its
report and the summary, and the demo's training reads kept apart from the evaluated ones."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from modelshrink.basecaller.basecall import chunk_boundaries
from modelshrink.basecaller.checkpoint import load_taiyaki_checkpoint
from modelshrink.basecaller.compress.finetune import batch_loss, finetune
from modelshrink.basecaller.compress.model_variant import check_training_files
from modelshrink.basecaller.compress.spec import FinetuneSpec, parse_variant
from modelshrink.basecaller.compress.training_chunks import FORMAT_NAME, iter_training_chunks
from modelshrink.basecaller.compress.training_set import load_training_set
from modelshrink.basecaller.compress.training_sources import training_read_ids
from modelshrink.basecaller.network import Architecture, build_network
from modelshrink.basecaller.signal.discover import find_read_files, iter_reads
from modelshrink.basecaller.signal.reads import med_mad_normalise
from modelshrink.cli import main
from modelshrink.errors import ModelshrinkError
from modelshrink.fetch import fetch
from modelshrink.simulate.fast5_writer import RUN_ID
from modelshrink.toolbox.prune import prune_magnitude
from modelshrink.toolbox.storage import save_model

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
STRIDE = 5
GRU_HALF = {
    "sublayers.*.cudnn_gru.weight_ih_l0": 0.375,
    "sublayers.*.cudnn_gru.weight_hh_l0": 0.625,
}
#: the five evaluated real reads, by read id
EVALUATED = {
    "0f776a08-1101-41d4-8097-89136494a46e",
    "1f1a0f33-e2ac-431a-8f48-c3c687a7a7dc",
    "b7096acd-b528-474e-a863-51295d18d3de",
    "db6b45aa-5d21-45cf-a435-05fb8f12e839",
    "de1508c4-755b-489e-9ffb-51af35c9a7e6",
}


@pytest.fixture(scope="module")
def reads_dir(shared_data: Path) -> Path:
    return shared_data / "taiyaki" / "reads"


@pytest.fixture(scope="module")
def mapped(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "taiyaki" / "mapped_signal").glob("*.hdf5"))


@pytest.fixture(scope="module")
def model(taiyaki_checkpoint: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    architecture, tensors = load_taiyaki_checkpoint(taiyaki_checkpoint)
    return architecture.to_dict(), tensors


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, model) -> Path:
    path = tmp_path_factory.mktemp("training") / "original.safetensors"
    save_model(path, *model, {})
    return path


def test_raw_reads_are_cut_and_normalised_as_the_basecaller_does(reads_dir: Path) -> None:
    training = load_training_set([reads_dir], 4000, STRIDE, labelled=False)
    reads = list(iter_reads(find_read_files([reads_dir])))
    per_read = [len(chunk_boundaries(len(read.raw), 4000, 0)[0]) for read in reads]
    assert per_read == [8, 10, 7, 9, 5] and len(training) == 39
    first = med_mad_normalise(reads[0].picoamps())
    assert np.array_equal(training.signals[0], first[:4000])
    assert np.array_equal(training.signals[7], first[-4000:])  # the last chunk ends the read
    assert training.read_ids == EVALUATED
    assert training.origin == "real" and not training.labelled and training.skipped == 0
    batch = training.batch([0, 1, 2])
    assert batch.signal.shape == (4000, 3, 1) and batch.bases is None


def test_reads_written_by_the_simulator_count_as_simulated(
    shared_data: Path, mapped: list[Path], tmp_path: Path
) -> None:
    source = next((shared_data / "taiyaki" / "multireads").glob("*.fast5"))
    simulated = tmp_path / "simulated.fast5"
    shutil.copy(source, simulated)
    simulated.chmod(0o644)
    with h5py.File(simulated, "r+") as handle:
        for name in handle:
            handle[name].attrs["run_id"] = np.bytes_(RUN_ID.encode())
    assert load_training_set([source], 4000, STRIDE, labelled=False).origin == "real"
    assert load_training_set([simulated], 4000, STRIDE, labelled=False).origin == "simulated"
    both = load_training_set([mapped[0], simulated], 4000, STRIDE, labelled=False)
    assert both.origin == "real+simulated" and len(both.read_ids) == 7


@pytest.mark.parametrize("objective", ["crf", "mixed"])
def test_label_objectives_refuse_raw_reads(
    original: Path,
    reads_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    objective: str,
) -> None:
    raw = {"prune": {"sparsity": GRU_HALF}, "finetune": {"steps": 1, "objective": objective}}
    with pytest.raises(ModelshrinkError, match=r"trains on labels, but .*reads are raw reads"):
        check_training_files(parse_variant("v", raw), [reads_dir])
    with pytest.raises(ModelshrinkError, match="use objective: distill"):
        load_training_set([reads_dir], 4000, STRIDE)
    output = tmp_path / "crf.safetensors"
    argv = ["compress", str(original), str(output), "--name", "crf", "--spec", json.dumps(raw)]
    assert main([*argv, "--training", str(reads_dir)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"variants.crf.finetune.objective '{objective}' trains on labels" in error
    assert not output.exists()


def _distill_loss(architecture: dict, student: dict, teacher: dict, batch) -> float:
    networks = [build_network(Architecture.from_dict(architecture), t) for t in (student, teacher)]
    with torch.no_grad():
        return float(batch_loss(networks[0], batch, teacher=networks[1], objective="distill"))


def test_distillation_on_raw_reads_lowers_the_kl_to_the_original(model, reads_dir: Path) -> None:
    architecture, tensors = model
    training = load_training_set([reads_dir], 800, STRIDE, labelled=False)
    pruned = prune_magnitude(tensors, {"sublayers.*.cudnn_gru.weight_*": 0.5})
    spec = FinetuneSpec(
        steps=6, learning_rate=2e-3, batch_size=4, chunk_length=800, objective="distill"
    )
    result = finetune(
        architecture, pruned.tensors, training, spec, pruned.masks, progress=False, teacher=tensors
    )
    batch = training.batch(range(0, len(training), len(training) // 8))
    before = _distill_loss(architecture, pruned.tensors, tensors, batch)
    after = _distill_loss(architecture, result.tensors, tensors, batch)
    assert after < 0.8 * before
    for name, mask in pruned.masks.items():
        assert bool((result.tensors[name][~mask] == 0).all()), name


def test_obs_calibrated_on_raw_reads_reports_real_training(
    original: Path, reads_dir: Path, tmp_path: Path
) -> None:
    """OBS (half the GRU weights) calibrated on raw reads, then 2 distillation steps: the
    report says what it learned from, and the network still calls real signal."""
    raw = {
        "prune": {"method": "obs", "sparsity": GRU_HALF},
        "finetune": {"steps": 2, "batch_size": 2, "chunk_length": 2000, "objective": "distill"},
    }
    output, report = tmp_path / "obs.safetensors", tmp_path / "obs.json"
    argv = ["compress", str(original), str(output), "--name", "obs", "--spec", json.dumps(raw)]
    assert main([*argv, "--report", str(report), "--training", str(reads_dir)]) == 0
    written = json.loads(report.read_text())
    assert written["tuned_on"] == "real"
    assert written["training"] == {
        "tuned_on": "real",
        "labelled": False,
        "sources": [str(reads_dir)],
        "reads": 5,
        "chunks": 76,  # ceil(length / 2000) per read: 15 + 19 + 14 + 18 + 10
        "chunk_samples": 2000,
    }
    assert written["finetune"]["steps"] == 2


def _chunk_file(path: Path, mapped: Path, chunk_samples: int, count: int) -> Path:
    """A modelshrink chunk file (the simulator's format) holding `count` chunks."""
    chunks = list(iter_training_chunks(mapped, chunk_samples))[:count]
    offsets = np.cumsum([0] + [len(chunk.sequence) for chunk in chunks])
    with h5py.File(path, "w") as handle:
        handle.attrs.update(format=FORMAT_NAME, version=1, chunk_samples=chunk_samples)
        handle["signal"] = np.stack([chunk.signal for chunk in chunks])
        handle["bases"] = np.concatenate([chunk.sequence for chunk in chunks]).astype(np.uint8)
        handle["base_offsets"] = offsets
        handle["read_id"] = np.array([f"sim{i}" for i in range(count)], dtype=object)
    return path


@pytest.mark.parametrize(
    ("spec", "training", "tuned_on"),
    [
        ({"quantize": {"scheme": "float16"}}, [], "none"),
        (
            {"prune": {"method": "obs", "sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 0.1}}},
            ["chunks"],
            "simulated",
        ),
        (
            {"prune": {"method": "obs", "sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 0.1}}},
            ["chunks", "mapped"],
            "real+simulated",
        ),
    ],
)
def test_report_says_what_the_variant_learned_from(
    original: Path, mapped: list[Path], tmp_path: Path, spec: dict, training: list, tuned_on: str
) -> None:
    files = {
        "chunks": _chunk_file(tmp_path / "chunks.hdf5", mapped[0], 1000, 6),
        "mapped": mapped[0],
    }
    output, report = tmp_path / "v.safetensors", tmp_path / "v.json"
    argv = ["compress", str(original), str(output), "--name", "v", "--spec", json.dumps(spec)]
    extra = ["--training", *(str(files[kind]) for kind in training)] if training else []
    assert main([*argv, "--report", str(report), *extra]) == 0
    assert json.loads(report.read_text())["tuned_on"] == tuned_on


def test_demo_training_data_is_the_shared_copy_and_not_evaluated(
    mapped: list[Path], reads_dir: Path
) -> None:
    """The demo fetches Taiyaki's two public mapped-signal files: their checksums are
    those of the shared copies, and none of their seven reads is one of the five real
    reads the variants are evaluated on."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    entries = config["training"]["mapped_signal"]
    by_name = {Path(entry["source"]).name: entry["sha256"] for entry in entries}
    assert by_name == {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in mapped}
    trained = training_read_ids(mapped)
    assert len(trained) == 7
    assert training_read_ids([reads_dir]) == EVALUATED
    assert not trained & EVALUATED
    assert not config["training"]["reads"] and not config["training"]["simulated"]


def test_fetch_checks_a_local_copy_of_the_training_reads(
    mapped: list[Path], tmp_path: Path
) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    expected = config["training"]["mapped_signal"][0]["sha256"]
    copy = tmp_path / "mapped_signal_0.hdf5"
    assert fetch(str(mapped[0]), copy, expected) == expected
    assert copy.read_bytes() == mapped[0].read_bytes()
    wrong = tmp_path / "wrong.hdf5"
    with pytest.raises(ModelshrinkError, match=f"sha256 is {expected}, the config expects 0+"):
        fetch(str(mapped[0]), wrong, "0" * 64)
    assert not wrong.exists()


def test_a_variant_stored_from_a_tuned_base_keeps_its_tuned_on(
    original: Path, mapped: list[Path], tmp_path: Path
) -> None:
    """pruned_v1_fp16 is pruned_v1's weights stored as float16: it learned from what
    pruned_v1 learned from, though its own step uses no data."""
    chunks = _chunk_file(tmp_path / "chunks.hdf5", mapped[0], 1000, 6)
    obs = {"prune": {"method": "obs", "sparsity": {"sublayers.2.cudnn_gru.weight_hh_l0": 0.1}}}
    tuned, stored = tmp_path / "tuned.safetensors", tmp_path / "stored.safetensors"
    argv = ["compress", str(original), str(tuned), "--name", "tuned", "--spec", json.dumps(obs)]
    assert main([*argv, "--training", str(chunks)]) == 0
    fp16 = json.dumps({"quantize": {"scheme": "float16"}})
    report = tmp_path / "stored.json"
    argv = ["compress", str(tuned), str(stored), "--name", "stored", "--spec", fp16]
    assert main([*argv, "--report", str(report)]) == 0
    written = json.loads(report.read_text())
    assert written["tuned_on"] == "simulated" and written["training"] is None
