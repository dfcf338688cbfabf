"""Hostile model files made from real ones: byte surgery on Taiyaki checkpoints and safetensors.

Shared by the fuzz test (many mutants, loaded in one child process) and the CLI test (a
few, through `modelshrink convert` / `basecall`). Everything here edits bytes; nothing is
unpickled, so building a mutant can never run its payload.

A payload, once unpickled by an unsafe loader, runs `touch MARKER` (os.system) or sets
`PWNED` in the loading process's `__main__` (exec); tests assert neither ever happens.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The five pickles of a legacy torch.save file, in order.
PICKLE_SLOTS = ("magic", "protocol", "system", "model", "keys")
MAIN_FLAG = "PWNED"


class SystemCall:
    """Pickles as a call of os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


class ExecCall:
    """Pickles as a call of exec() that sets a flag in the loading process's __main__."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"import sys; sys.modules['__main__'].{MAIN_FLAG} = True",))


def payload_pickles(marker: Path) -> dict[str, bytes]:
    """Whole pickles that run code when loaded unsafely, in every opcode dialect."""
    command = f"touch {marker}"
    return {
        "system-p2": pickle.dumps(SystemCall(command), protocol=2),
        "exec-p2": pickle.dumps(ExecCall(), protocol=2),
        "system-p4": pickle.dumps(SystemCall(command), protocol=4),  # STACK_GLOBAL, FRAME
        "system-p0-inst": f"(S'{command}'\nios\nsystem\n.".encode(),  # INST opcode
        "persistent-id": b"\x80\x02X\x04\x00\x00\x00evilQ.",  # BINPERSID
    }


def inline_ops(value: Any) -> bytes:
    """`value` as pickle opcodes to splice into another pickle: no PROTO, STOP or memo."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)
    pickler.fast = True  # no memo: the host pickle owns the memo indices
    pickler.dump(value)
    return buffer.getvalue()[2:-1]


def int_op(value: int) -> bytes:
    """Any integer (negative, huge) as a LONG1 opcode."""
    width = max(1, (value.bit_length() + 8) // 8)
    return b"\x8a" + bytes([width]) + value.to_bytes(width, "little", signed=True)


def tuple_ops(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(int_op(v) for v in values) + b"t"


def long_binput(index: int) -> bytes:
    return b"r" + struct.pack("<I", index)


def long_binget(index: int) -> bytes:
    return b"j" + struct.pack("<I", index)


# --- legacy checkpoints ---------------------------------------------------------------------


class Checkpoint:
    """A legacy torch.save file's bytes with the positions of its parts."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        stream = io.BytesIO(data)
        self.spans: dict[str, tuple[int, int]] = {}
        for slot in PICKLE_SLOTS:
            start = stream.tell()
            for _opcode, _arg, position in pickletools.genops(stream):
                end = position + 1
            self.spans[slot] = (start, end)
            stream.seek(end)
        self.storages: list[tuple[int, int]] = []  # (header offset, payload bytes)
        position = stream.tell()
        while position < len(data):
            (numel,) = struct.unpack("<q", data[position : position + 8])
            self.storages.append((position, numel * 4))  # every Taiyaki storage is float32
            position += 8 + numel * 4

    def ops(self, slot: str = "model") -> list[tuple[str, Any, int, int]]:
        """(opcode name, argument, start, end) of every opcode of one pickle, file offsets."""
        start, end = self.spans[slot]
        found = [
            (op.name, arg, start + pos, 0)
            for op, arg, pos in pickletools.genops(self.data[start:end])
        ]
        ends = [item[2] for item in found[1:]] + [end]
        return [
            (name, arg, begin, stop)
            for (name, arg, begin, _), stop in zip(found, ends, strict=True)
        ]

    def replace(self, start: int, end: int, new: bytes) -> bytes:
        return self.data[:start] + new + self.data[end:]

    def with_slot(self, slot: str, pickle_bytes: bytes) -> bytes:
        return self.replace(*self.spans[slot], pickle_bytes)

    def memo_filled_before(self, offset: int) -> int:
        """How many memo entries the model pickle has filled when it reaches `offset`."""
        puts = ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE")
        return sum(1 for name, _, start, _ in self.ops() if name in puts and start < offset)

    def value_after_key(self, key: str) -> tuple[int, int]:
        """The opcode span of the value stored under the first attribute named `key`."""
        ops = self.ops()
        for index, (name, arg, _, _) in enumerate(ops):
            if name == "BINUNICODE" and arg == key:
                rest = [op for op in ops[index + 1 :] if op[0] not in ("BINPUT", "LONG_BINPUT")]
                return rest[0][2], rest[0][3]
        raise KeyError(key)

    def with_value(self, key: str, new_ops: Callable[[int], bytes]) -> bytes:
        """The value under `key` replaced by `new_ops(first free memo index)`."""
        start, end = self.value_after_key(key)
        return self.replace(start, end, new_ops(self.memo_filled_before(start)))

    def tensor_fields(self, index: int) -> dict[str, tuple[int, int]]:
        """Opcode spans of the `index`-th tensor's storage numel, offset, size and stride."""
        ops = self.ops()
        persids = [
            i
            for i, op in enumerate(ops)
            if op[0] == "BINPERSID" and ops[i + 1][0].startswith(("BININT", "LONG"))
        ]
        at = persids[index]
        numel = next(op for op in reversed(ops[:at]) if op[0].startswith(("BININT", "LONG")))
        fields = {"numel": (numel[2], numel[3]), "offset": (ops[at + 1][2], ops[at + 1][3])}
        cursor = at + 2
        for name in ("size", "stride"):
            first = cursor
            while not ops[cursor][0].startswith(("TUPLE", "EMPTY_TUPLE")):
                cursor += 1
            fields[name] = (ops[first][2], ops[cursor][3])
            cursor += 1
            while ops[cursor][0] in ("BINPUT", "LONG_BINPUT"):
                cursor += 1
        return fields

    def with_tensor(self, index: int, **new: bytes) -> bytes:
        """The `index`-th tensor with fields (numel, offset, size, stride) replaced by opcodes."""
        fields = self.tensor_fields(index)
        data = self.data
        for name in sorted(new, key=lambda n: fields[n][0], reverse=True):
            start, end = fields[name]
            data = data[:start] + new[name] + data[end:]
        return data

    def with_storage_numel(self, index: int, numel: int) -> bytes:
        header = self.storages[index][0]
        return self.replace(header, header + 8, struct.pack("<q", numel))


def billion_laughs(first_free: int, levels: int = 40) -> bytes:
    """A list nesting `levels` deep where each level holds the one below twice: 2^levels
    leaves in a few hundred bytes. Harmless if resolved once per shared value."""
    ops = b"N" + long_binput(first_free) + b"0"  # POP: PUT leaves the value on the stack
    for level in range(levels):
        below = long_binget(first_free + level)
        ops += b"(" + below + below + b"l" + long_binput(first_free + level + 1) + b"0"
    return ops + long_binget(first_free + levels)


def self_containing_list(first_free: int) -> bytes:
    return b"]" + long_binput(first_free) + long_binget(first_free) + b"a"


# --- safetensors ------------------------------------------------------------------------------


def split_safetensors(data: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def join_safetensors(header: dict[str, Any] | str, body: bytes) -> bytes:
    raw = (header if isinstance(header, str) else json.dumps(header)).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def with_header(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    header, body = split_safetensors(data)
    edit(header)
    return join_safetensors(header, body)


def with_metadata(data: bytes, key: str, edit: Callable[[Any], Any]) -> bytes:
    """One of modelshrink's JSON header strings (architecture, encodings, metadata) edited:
    `edit` changes the parsed value in place or returns a replacement."""

    def apply(header: dict[str, Any]) -> None:
        value = json.loads(header["__metadata__"][key])
        replaced = edit(value)
        header["__metadata__"][key] = json.dumps(value if replaced is None else replaced)

    return with_header(data, apply)


def with_raw_metadata(data: bytes, key: str, text: str) -> bytes:
    def apply(header: dict[str, Any]) -> None:
        header["__metadata__"][key] = text

    return with_header(data, apply)
