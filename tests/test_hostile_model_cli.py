"""Hostile model files end to end: the CLI refuses them in one line and writes nothing.

Crafted from the real pretrained checkpoint: a code payload in a header pickle, the
storage-key list and the model pickle, a tensor view striding out of its storage and one
claiming 2^80 elements. `modelshrink convert` and `modelshrink basecall` run in a
subprocess (a crash would show as a signal, not a dead pytest). Also: merFISH model files
whose architecture or int8 metadata is hostile are refused before a network is built.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hostile_files import (
    Checkpoint,
    payload_pickles,
    tuple_ops,
    with_metadata,
)

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish import storage
from modelshrink.merfish.model import AnglerFISH
from modelshrink.merfish.spec import ModelSpec

CLI = "import sys; from modelshrink.cli import main; sys.exit(main())"

#: name -> (how to make it from the real checkpoint, what the message must say)
CRAFTED = {
    "exec payload as the protocol pickle": (
        lambda c, marker: c.with_slot("protocol", payload_pickles(marker)["exec-p2"]),
        "the protocol version: refusing to load: it references '__builtin__.exec'",
    ),
    "system payload as the storage-key list": (
        lambda c, marker: c.with_slot("keys", payload_pickles(marker)["system-p2"]),
        "the storage key list: refusing to load: it references 'posix.system'",
    ),
    "system payload as the model pickle": (
        lambda c, marker: c.with_slot("model", payload_pickles(marker)["system-p4"]),
        "the model pickle: refusing to load: it references 'posix.system'",
    ),
    "conv weight striding out of its storage": (
        lambda c, marker: c.with_tensor(0, stride=tuple_ops((10**6, 19, 1))),
        "reaches past the storage's 1824 elements",
    ),
    "conv weight of 2^80 elements": (
        lambda c, marker: c.with_tensor(
            0, size=tuple_ops((2**40, 2**40, 1)), stride=tuple_ops((0, 0, 0))
        ),
        "reaches past the storage's 1824 elements",
    ),
}


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLI, *map(str, args)], capture_output=True, text=True, check=False
    )


def _assert_refused(run: subprocess.CompletedProcess, command: str, path: Path, says: str) -> None:
    assert run.returncode in (1, 2), run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr  # one line, no traceback
    assert lines[0].startswith(f"modelshrink {command}: error: {path}")
    assert says in lines[0]


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path) -> dict:
    folder = tmp_path_factory.mktemp("crafted")
    checkpoint = Checkpoint(taiyaki_checkpoint.read_bytes())
    marker = folder / "payload-ran"
    files = {}
    for index, (name, (make, _)) in enumerate(CRAFTED.items()):
        files[name] = folder / f"crafted{index}.checkpoint"
        files[name].write_bytes(make(checkpoint, marker))
    return {"files": files, "marker": marker}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_convert_refuses_a_crafted_checkpoint(crafted: dict, name: str, tmp_path: Path) -> None:
    path, output = crafted["files"][name], tmp_path / "model.safetensors"
    _assert_refused(_run("convert", path, output), "convert", path, CRAFTED[name][1])
    assert list(tmp_path.iterdir()) == []
    assert not crafted["marker"].exists()


@pytest.mark.parametrize(
    "name", ["exec payload as the protocol pickle", "conv weight striding out of its storage"]
)
def test_basecall_refuses_a_crafted_checkpoint(
    crafted: dict, name: str, tmp_path: Path, shared_data: Path
) -> None:
    path, output = crafted["files"][name], tmp_path / "calls.fastq"
    run = _run("basecall", path, shared_data / "taiyaki" / "reads", "-o", output, "--no-progress")
    _assert_refused(run, "basecall", path, CRAFTED[name][1])
    assert list(tmp_path.iterdir()) == []
    assert not crafted["marker"].exists()


@pytest.fixture(scope="module")
def merfish_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("merfish") / "float32.safetensors"
    torch.manual_seed(0)
    storage.save_float(path, AnglerFISH(ModelSpec(width=0.1)), "float32", 32)
    return path


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda a: a.__setitem__("image_size", 10**6), "image_size 1000000: expected a multiple"),
        (lambda a: a.__setitem__("image_size", "32"), "image_size '32': expected a multiple"),
        (lambda a: a.__setitem__("model", [1]), "architecture.model must be a mapping"),
        (lambda a: a["model"].__setitem__("width", 10**9), "expected 0 < width <= 4"),
        (
            lambda a: a.__setitem__("variant", ["float32"]),
            "variant ['float32']; expected a merfish",
        ),
    ],
)
def test_merfish_file_with_a_hostile_architecture_is_refused(
    merfish_file: Path, tmp_path: Path, edit, says: str
) -> None:
    assert storage.load_merfish_model(merfish_file).variant == "float32"
    hostile = tmp_path / "hostile.safetensors"
    hostile.write_bytes(with_metadata(merfish_file.read_bytes(), "architecture", edit))
    with pytest.raises(ModelshrinkError, match=rf"hostile\.safetensors: .*{re.escape(says)}"):
        storage.load_merfish_model(hostile)


def test_merfish_int8_metadata_is_checked_before_the_graph_is_rebuilt(
    merfish_file: Path, tmp_path: Path
) -> None:
    hostile = tmp_path / "int8.safetensors"
    as_int8 = with_metadata(
        merfish_file.read_bytes(), "architecture", lambda a: a.__setitem__("variant", "static_int8")
    )
    hostile.write_bytes(with_metadata(as_int8, "metadata", lambda m: m.__setitem__("int8", [1])))
    with pytest.raises(ModelshrinkError, match=r"int8\.safetensors: metadata 'int8' must hold"):
        storage.load_merfish_model(hostile)
