"""Fuzzing the model readers with mutants of the real checkpoints and of converted models.

Seeded mutants of both real Taiyaki checkpoints and of safetensors files written by
`convert_checkpoint` (what `modelshrink convert` runs): truncations, byte flips, code
payloads in every pickle slot, crafted tensor views and storage sizes, memo and nesting
bombs, broken safetensors framing and broken modelshrink JSON. All are loaded in ONE child
process (tests/model_file_loader.py), so a segfault fails the test naming the mutant.

Every mutant must end in a ModelshrinkError naming its file, or in a load; no payload may
run; convert may leave no file behind; a mutation known to be harmless must load the
original weights bit for bit, and a flipped weight byte may change only the weight it is in.
"""

from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile_files import (
    PICKLE_SLOTS,
    Checkpoint,
    SystemCall,
    billion_laughs,
    inline_ops,
    int_op,
    join_safetensors,
    long_binput,
    payload_pickles,
    self_containing_list,
    split_safetensors,
    tuple_ops,
    with_header,
    with_metadata,
    with_raw_metadata,
)

from modelshrink.basecaller.model_file import convert_checkpoint
from modelshrink.toolbox.storage import AffineEncoding, SparseEncoding, load_model, save_model

LOADER = Path(__file__).with_name("model_file_loader.py")
SEED = 20240613
ENCODED_WEIGHT = "sublayers.1.layer.cudnn_gru.weight_ih_l0"
ZERO_BIAS = "sublayers.1.layer.cudnn_gru.bias_hh_l0"
DEEP_JSON = "[" * 100_000 + "]" * 100_000
#: What a mutant must do: fail with a ModelshrinkError; load the original's weights bit for
#: bit; load with at most one weight changed; or either fail or load.
EXPECTATIONS = ("error", "loaded", "one-weight", "any")


class Mutants:
    """Mutant files in one folder, each with its kind, original and expectation."""

    def __init__(self, folder: Path, rng: random.Random) -> None:
        self.folder, self.rng = folder, rng
        self.entries: list[dict[str, Any]] = []

    def add(self, name: str, data: bytes, original: Path, kind: str, expect: str) -> None:
        assert expect in EXPECTATIONS
        path = self.folder / f"mutant{len(self.entries):04d}"
        path.write_bytes(data)
        entry = {"path": str(path), "kind": kind, "original": str(original), "expect": expect}
        self.entries.append({"name": f"{original.name}: {name}", **entry})

    def truncations(self, add: Callable, data: bytes, count: int, must: list[int]) -> None:
        cuts = set(must) | {self.rng.randrange(1, len(data)) for _ in range(count)}
        for cut in sorted(cuts):
            add(f"truncated at {cut}", data[:cut], "error")

    def flips(self, add: Callable, data: bytes, region: range, count: int, expect: str) -> None:
        for _ in range(count):
            position = self.rng.choice(region)
            flipped = data[position] ^ self.rng.randrange(1, 256)
            mutant = data[:position] + bytes([flipped]) + data[position + 1 :]
            add(f"byte {position} flipped", mutant, expect)


# --- checkpoints ------------------------------------------------------------------------------


def _checkpoint_mutants(mutants: Mutants, path: Path, marker: Path, crafted: bool) -> None:
    checkpoint = Checkpoint(path.read_bytes())
    data = checkpoint.data

    def add(name: str, mutant: bytes, expect: str) -> None:
        mutants.add(name, mutant, path, "checkpoint", expect)

    add("original", data, "loaded")
    boundaries = [end for _, end in checkpoint.spans.values()]
    boundaries += [header + 8 for header, _ in checkpoint.storages] + [len(data) - 1]
    mutants.truncations(add, data, 20 if crafted else 8, boundaries)
    pickles = range(checkpoint.spans["keys"][1])
    mutants.flips(add, data, pickles, 60 if crafted else 20, "any")
    weights = [range(h + 8, h + 8 + n) for h, n in checkpoint.storages]
    for _ in range(12 if crafted else 4):
        mutants.flips(add, data, mutants.rng.choice(weights), 1, "one-weight")
    for slot in PICKLE_SLOTS:
        for payload, pickled in payload_pickles(marker).items():
            add(f"{payload} as the {slot} pickle", checkpoint.with_slot(slot, pickled), "error")
    if crafted:
        _crafted_pickles(checkpoint, marker, add)
        _crafted_tensors(checkpoint, add)


def _crafted_pickles(checkpoint: Checkpoint, marker: Path, add: Callable) -> None:
    system = inline_ops(SystemCall(f"touch {marker}"))
    for key in ("winlen", "training"):  # a config value, an attribute nothing reads
        add(
            f"system call as the {key} value", checkpoint.with_value(key, lambda _: system), "error"
        )
    # BUILD with (None, {name: value}) calls setattr(target, name, value)
    sets_class_iter = b"\x80\x02ctaiyaki.layers\nSerial\nN}X\x08\x00\x00\x00__iter__Ns\x86b."
    add("BUILD giving a class __iter__", checkpoint.with_slot("model", sets_class_iter), "error")
    alters_rebuild = (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x0c\x00\x00\x00__defaults__)s\x86b."
    )
    add("BUILD altering _rebuild_tensor_v2", checkpoint.with_slot("model", alters_rebuild), "error")
    memo_bomb = b"\x80\x02K\x01" + long_binput(0xFFFFFFF0) + b"."
    add("memo index 2^32-16", checkpoint.with_slot("protocol", memo_bomb), "error")
    deep_key = b"\x80\x02}X\x01\x00\x00\x00a" + b"\x85" * 10**6 + b"K\x01s."
    add("dict key nested 10^6 tuples deep", checkpoint.with_slot("system", deep_key), "error")
    add(
        "2^40-leaf shared list as an unread attribute",
        checkpoint.with_value("training", billion_laughs),
        "loaded",
    )
    add("list containing itself", checkpoint.with_value("training", self_containing_list), "error")
    keys = [arg for name, arg, _, _ in checkpoint.ops("keys") if name == "BINUNICODE"]
    for name, listed in {
        "a key twice": [*keys[:-1], keys[0]],
        "a key missing": keys[:-1],
        "an unknown key": [*keys, "123"],
        "a number": [*keys[:-1], 7],
    }.items():
        add(
            f"storage key list with {name}",
            checkpoint.with_slot("keys", pickle.dumps(listed, protocol=2)),
            "error",
        )
    add("trailing bytes", checkpoint.data + bytes(100), "loaded")
    add(
        "protocol version as BININT",
        checkpoint.with_slot("protocol", b"\x80\x02J\xe9\x03\x00\x00."),
        "loaded",
    )
    system_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    add(
        "system info in protocol 4",
        checkpoint.with_slot("system", pickle.dumps(system_info, protocol=4)),
        "loaded",
    )
    add(
        "big-endian system info",
        checkpoint.with_slot("system", pickle.dumps({"little_endian": False}, protocol=2)),
        "error",
    )


def _crafted_tensors(checkpoint: Checkpoint, add: Callable) -> None:
    """Views of the first tensors (conv weight 96x1x19, conv bias 96) that leave their storage."""
    for name, fields in {
        "stride 10^6": {"stride": tuple_ops((10**6, 19, 1))},
        "stride -1": {"stride": tuple_ops((-1, 19, 1))},
        "size -1": {"size": tuple_ops((-1, 1, 19))},
        "size 4096": {"size": tuple_ops((4096, 1, 19))},
        "2^80 elements at stride 0": {
            "size": tuple_ops((2**40, 2**40, 1)),
            "stride": tuple_ops((0, 0, 0)),
        },
        "offset 10^9": {"offset": int_op(10**9)},
        "offset -1": {"offset": int_op(-1)},
        "offset 2^70": {"offset": int_op(2**70)},
        "offset 1.5": {"offset": inline_ops(1.5)},
        "four strides": {"stride": tuple_ops((19, 19, 1, 1))},
        "a 4-element storage": {"numel": int_op(4)},
        "a 2^62-element storage": {"numel": int_op(2**62)},
    }.items():
        add(f"conv weight with {name}", checkpoint.with_tensor(0, **fields), "error")
    add("conv bias of 4096 elements", checkpoint.with_tensor(1, size=tuple_ops((4096,))), "error")
    for numel in (-1, 0, 10**9, 2**62):
        add(f"first storage said to hold {numel}", checkpoint.with_storage_numel(0, numel), "error")
    start, end = checkpoint.spans["model"]
    doubles = checkpoint.data[start:end].replace(b"FloatStorage\n", b"DoubleStorage\n", 1)
    add("storages declared as doubles", checkpoint.replace(start, end, doubles), "error")


# --- safetensors ------------------------------------------------------------------------------


def _first_tensor(header: dict[str, Any]) -> dict[str, Any]:
    return header[min(name for name in header if name != "__metadata__")]


def _header_edits() -> dict[str, Callable[[dict[str, Any]], None]]:
    def set_first(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda header: _first_tensor(header).__setitem__(key, value)

    return {
        "a tensor declared F64": set_first("dtype", "F64"),
        "a tensor of shape [-1, 96]": set_first("shape", [-1, 96]),
        "a tensor of shape [2^31, 2^31]": set_first("shape", [2**31, 2**31]),
        "a tensor at [0, 2^40]": set_first("data_offsets", [0, 2**40]),
        "a tensor at [8, 4]": set_first("data_offsets", [8, 4]),
        "a tensor entry that is a list": lambda h: h.__setitem__("sublayers.0.conv.bias", [1]),
        "a number as a metadata value": lambda h: h["__metadata__"].__setitem__("format", 2),
    }


def _layer_edits() -> dict[str, Callable[[dict[str, Any]], Any]]:
    def layer(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda arch: arch["layers"][index].__setitem__(key, value)

    return {
        "a GRU of size 10^6": layer(2, "size", 10**6),
        "convolution padding 10^9": layer(0, "padding", [10**9, 10**9]),
        "convolution stride 0": layer(0, "stride", 0),
        "convolution stride '4'": layer(0, "stride", "4"),
        "a flip-flop layer with 10^6 bases": layer(6, "nbase", 10**6),
        "a flip-flop scale of NaN": layer(6, "scale", float("nan")),
        "an unknown layer type": layer(3, "type", "exec"),
        "a layer that is a list": lambda arch: arch["layers"].__setitem__(1, [1]),
        "layers as text": lambda arch: arch.__setitem__("layers", "x"),
        "no layers": lambda arch: arch.__setitem__("layers", []),
        "layers missing": lambda arch: arch.__delitem__("layers"),
        "alphabet ACGTN": lambda arch: arch.__setitem__("alphabet", "ACGTN"),
        "alphabet of non-letters": lambda arch: arch.__setitem__("alphabet", "A\u00e9G\n"),
    }


def _encoding_edits() -> dict[str, Callable[[dict[str, Any]], Any]]:
    def entry(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda encodings: encodings[name].__setitem__(key, value)

    return {
        "an all-zero sparse tensor of 10^10 elements": entry(ZERO_BIAS, "shape", [10**5, 10**5]),
        "shape [-1]": entry(ZERO_BIAS, "shape", [-1]),
        "shape '288'": entry(ZERO_BIAS, "shape", "288"),
        "nnz -1": entry(ZERO_BIAS, "nnz", -1),
        "nnz 10^12": entry(ZERO_BIAS, "nnz", 10**12),
        "sparse values as a list": entry(ZERO_BIAS, "values", [1]),
        "byte range [0, 10^12]": entry(ENCODED_WEIGHT, "at", [0, 10**12]),
        "byte range ['0', 5]": entry(ENCODED_WEIGHT, "at", ["0", 5]),
        "byte range [5, 3]": entry(ENCODED_WEIGHT, "at", [5, 3]),
        "axis 5": entry(ENCODED_WEIGHT, "axis", 5),
        "axis '0'": entry(ENCODED_WEIGHT, "axis", "0"),
        "bits 99": entry(ENCODED_WEIGHT, "bits", 99),
        "bits '8'": entry(ENCODED_WEIGHT, "bits", "8"),
        "scale format float64": entry(ENCODED_WEIGHT, "scale", "float64"),
        "kind exec": entry(ENCODED_WEIGHT, "kind", "exec"),
        "dense dtype float128": entry("sublayers.0.conv.weight", "dtype", "float128"),
        "a dense tensor that is not stored": lambda e: e.__setitem__(
            "missing", e[ZERO_BIAS] | {"kind": "dense"}
        ),
        "an entry that is a list": lambda e: e.__setitem__(ZERO_BIAS, [1]),
    }


def _safetensors_mutants(mutants: Mutants, dense: Path, encoded: Path) -> None:
    data = dense.read_bytes()
    header, body = split_safetensors(data)
    header_end = len(data) - len(body)

    def add(name: str, mutant: bytes, expect: str) -> None:
        mutants.add(name, mutant, dense, "safetensors", expect)

    add("original", data, "loaded")
    add(
        "header re-serialised with indentation",
        join_safetensors(json.dumps(header, indent=2), body),
        "loaded",
    )
    mutants.truncations(add, data, 15, [7, 8, header_end - 1, header_end, len(data) - 1])
    mutants.flips(add, data, range(header_end), 30, "any")
    mutants.flips(add, data, range(header_end, len(data)), 10, "one-weight")
    for length in (0, 2**40, 2**64 - 1):
        add(f"header length {length}", length.to_bytes(8, "little") + data[8:], "error")
    for name, text in {"a list": "[]", "not JSON": "{'a': 1", "deeply nested": DEEP_JSON}.items():
        add(f"a header that is {name}", join_safetensors(text, body), "error")
    for name, edit in _header_edits().items():
        add(name, with_header(data, edit), "error")
    for name, edit in _layer_edits().items():
        add(f"architecture with {name}", with_metadata(data, "architecture", edit), "error")
    for key in ("architecture", "encodings", "metadata"):
        add(f"{key} nested 10^5 deep", with_raw_metadata(data, key, DEEP_JSON), "error")
    add("metadata that is a list", with_raw_metadata(data, "metadata", "[1]"), "error")

    encoded_data = encoded.read_bytes()

    def add_encoded(name: str, mutant: bytes, expect: str) -> None:
        mutants.add(name, mutant, encoded, "safetensors", expect)

    add_encoded("original", encoded_data, "loaded")
    _, encoded_body = split_safetensors(encoded_data)
    blob = range(len(encoded_data) - len(encoded_body), len(encoded_data))
    mutants.truncations(add_encoded, encoded_data, 5, [len(encoded_data) - 1])
    mutants.flips(add_encoded, encoded_data, blob, 10, "any")
    for name, edit in _encoding_edits().items():
        add_encoded(
            f"encodings with {name}", with_metadata(encoded_data, "encodings", edit), "error"
        )


# --- running them -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("payload") / "payload-ran"


@pytest.fixture(scope="module")
def mutants(
    tmp_path_factory: pytest.TempPathFactory,
    taiyaki_checkpoint: Path,
    seed_checkpoint: Path,
    marker: Path,
) -> Mutants:
    folder = tmp_path_factory.mktemp("mutants")
    mutants = Mutants(folder, random.Random(SEED))
    _checkpoint_mutants(mutants, taiyaki_checkpoint, marker, crafted=True)
    _checkpoint_mutants(mutants, seed_checkpoint, marker, crafted=False)
    dense = folder / "converted.safetensors"
    convert_checkpoint(taiyaki_checkpoint, dense)
    stored = load_model(dense)
    weight = stored.tensors[ENCODED_WEIGHT]
    encodings = {
        ENCODED_WEIGHT: AffineEncoding(8, weight.abs().amax(dim=1) / 127, axis=0),
        ZERO_BIAS: SparseEncoding(),
    }
    encoded = folder / "encoded.safetensors"
    save_model(encoded, stored.architecture, stored.tensors, stored.metadata, encodings)
    _safetensors_mutants(mutants, dense, encoded)
    return mutants


@pytest.fixture(scope="module")
def loaded(mutants: Mutants, marker: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The child's report per mutant name; the test fails here if the child died."""
    manifest = mutants.folder / "manifest.json"
    manifest.write_text(json.dumps(mutants.entries))
    workdir = tmp_path_factory.mktemp("convert-output")
    run = subprocess.run(
        [sys.executable, str(LOADER), str(manifest), str(marker), str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    started = [line["start"] for line in lines if "start" in line]
    status = run.returncode
    assert status == 0, (
        f"the loader died with status {status} while loading "
        f"{started[-1] if started else 'the originals'}: {run.stderr[-2000:]}"
    )
    reports = {line["name"]: line for line in lines if "outcome" in line}
    assert len(reports) == len(mutants.entries)
    return reports


def test_no_payload_ever_runs(loaded: dict, marker: Path, mutants: Mutants) -> None:
    payloads = [e for e in mutants.entries if " as the " in e["name"]]
    assert len(payloads) == 2 * 5 * len(PICKLE_SLOTS) + 2
    assert [name for name, report in loaded.items() if report["executed"]] == []
    assert not marker.exists()
    assert all(loaded[e["name"]]["outcome"] == "error" for e in payloads)


def test_every_failure_is_a_modelshrink_error_naming_the_file(
    loaded: dict, mutants: Mutants
) -> None:
    for entry in mutants.entries:
        report = loaded[entry["name"]]
        assert report["outcome"] in ("error", "loaded"), (entry["name"], report["message"])
        if report["outcome"] == "error":
            assert entry["path"] in report["message"], (entry["name"], report["message"])
        assert report["left_behind"] == [], entry["name"]


def test_each_mutant_ends_as_expected(loaded: dict, mutants: Mutants) -> None:
    wrong = []
    for entry in mutants.entries:
        report, expect = loaded[entry["name"]], entry["expect"]
        if expect == "error":
            ok = report["outcome"] == "error"
        elif expect == "loaded":
            ok = report["outcome"] == "loaded" and report["differing"] == 0
            ok = ok and report["same_architecture"]
        elif expect == "one-weight":
            ok = report["outcome"] == "loaded" and report["differing"] in (0, 1)
            ok = ok and report["same_architecture"]
        else:
            ok = report["outcome"] in ("error", "loaded")
        if not ok:
            wrong.append((entry["name"], expect, report))
    assert wrong == []


def test_the_mutants_cover_every_reader(mutants: Mutants, loaded: dict) -> None:
    """Guards the fuzz itself: both checkpoints and both safetensors files are mutated, and
    the harmless mutants of each really load (a loader refusing everything fails here)."""
    originals = {entry["original"] for entry in mutants.entries}
    assert len(originals) == 4
    for original in originals:
        names = [e["name"] for e in mutants.entries if e["original"] == original]
        assert loaded[names[0]]["outcome"] == "loaded"
        assert sum(loaded[name]["outcome"] == "error" for name in names) >= 10
