"""Loads a batch of model files in a child process; one JSON line per file on stdout.

Run by tests/test_checkpoint_fuzz.py so that a crash (segfault, abort, out of memory) is a
failed test naming the file that caused it, not a dead pytest: a `{"start": name}` line is
printed and flushed before each load. Usage:

    python model_file_loader.py MANIFEST.json MARKER WORKDIR

MANIFEST lists {"name", "path", "kind": "checkpoint" | "safetensors", "original"}. A
checkpoint is loaded the way `modelshrink convert` does (into WORKDIR/out.safetensors), a
safetensors file the way `modelshrink basecall` does. Each result says whether the load
raised a ModelshrinkError, some other exception, or loaded; how many weight elements differ
bit for bit from the original's (-1: other names or shapes); whether the architecture is the
original's; which files convert left behind in WORKDIR; and whether any payload ran (MARKER
exists or this module's PWNED was set).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from modelshrink.basecaller.model_file import convert_checkpoint, load_basecaller
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.storage import load_model

#: Address-space limit: a runaway allocation becomes a MemoryError here, not an OOM kill.
ADDRESS_SPACE_BYTES = 16 * 2**30
PWNED = False


def _load(kind: str, path: Path, workdir: Path) -> tuple[dict[str, torch.Tensor], dict]:
    if kind == "checkpoint":
        output = workdir / "out.safetensors"
        convert_checkpoint(path, output)
        stored = load_model(output)
        output.unlink()
        return stored.tensors, stored.architecture
    network = load_basecaller(path)
    return network.state_dict(), network.architecture.to_dict()


def _differing(loaded: dict[str, torch.Tensor], original: dict[str, torch.Tensor]) -> int:
    if loaded.keys() != original.keys():
        return -1
    count = 0
    for name, tensor in loaded.items():
        if tensor.shape != original[name].shape or tensor.dtype != torch.float32:
            return -1
        count += int((tensor.view(torch.int32) != original[name].view(torch.int32)).sum())
    return count


def _outcome(entry: dict[str, Any], workdir: Path, originals: dict[str, Any]) -> dict[str, Any]:
    path, kind = Path(entry["path"]), entry["kind"]
    try:
        tensors, architecture = _load(kind, path, workdir)
    except ModelshrinkError as error:
        return {"outcome": "error", "message": str(error)}
    except Exception as error:  # reported, and the test fails on it
        return {"outcome": "other", "message": f"{type(error).__name__}: {error}"}
    original_tensors, original_architecture = originals[entry["original"]]
    return {
        "outcome": "loaded",
        "differing": _differing(tensors, original_tensors),
        "same_architecture": architecture == original_architecture,
    }


def main(manifest: Path, marker: Path, workdir: Path) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    torch.set_num_threads(1)
    entries = json.loads(manifest.read_text())
    originals = {
        original: _load(kind, Path(original), workdir)
        for original, kind in {(e["original"], e["kind"]) for e in entries}
    }
    for entry in entries:
        print(json.dumps({"start": entry["name"]}), flush=True)
        result = _outcome(entry, workdir, originals)
        result["name"] = entry["name"]
        result["left_behind"] = sorted(p.name for p in workdir.iterdir())
        result["executed"] = marker.exists() or PWNED
        for leftover in workdir.iterdir():
            leftover.unlink()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
