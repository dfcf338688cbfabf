"""The one way modelshrink reads a pickle: opcodes scanned first, then an allow-list unpickler.

`find_class` alone keeps a pickle from calling anything outside the allow-list, but the C
unpickler can still be brought down by data alone: a memo index of 2^32 makes it allocate
and zero a table of 2^32 pointers, and a tuple nested a million deep overflows the C stack
as soon as it is hashed (e.g. as a dict key), killing the process with a segfault. So each
pickle is first walked opcode by opcode with `pickletools.genops` (pure Python, builds
nothing): memo indices must be filled in order, and the simulated stack may not nest values
deeper than `MAX_NESTING`. Only then does `pickle.Unpickler` build it, with `find_class`
answering from an explicit {(module, name): object} allow-list (empty: nothing) and
persistent ids handed to the caller, or refused.

The allow-listed objects must be immutable: the BUILD opcode sets attributes on whatever
object the pickle names (e.g. a plain function's `__defaults__`), for every later load.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from modelshrink.errors import ModelshrinkError, brief, quoted

#: Deepest nesting of containers/calls a pickle may build. A Taiyaki checkpoint needs 21.
MAX_NESTING = 64
_MARK = -1  # a mark on the simulated stack; real values have a nesting depth >= 0
_IN_PLACE = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_NO_EFFECT = frozenset({"PROTO", "FRAME", "STOP"})


class _StackScan:
    """The unpickler's stack, each value reduced to how deeply it nests."""

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.memo: dict[int, int] = {}

    def pop(self) -> int:
        if not self.stack or self.stack[-1] == _MARK:
            raise ModelshrinkError("an opcode takes a value from an empty stack")
        return self.stack.pop()

    def pop_to_mark(self) -> list[int]:
        if _MARK not in self.stack:
            raise ModelshrinkError("an opcode needs a MARK that is not on the stack")
        index = len(self.stack) - 1 - self.stack[::-1].index(_MARK)
        items = self.stack[index + 1 :]
        del self.stack[index:]
        return items

    def push(self, depth: int) -> None:
        if depth > MAX_NESTING:
            raise ModelshrinkError(f"values nest deeper than {MAX_NESTING} levels")
        self.stack.append(depth)

    def step(self, opcode: pickletools.OpcodeInfo, arg: Any) -> None:
        name = opcode.name
        if name in _NO_EFFECT:
            return
        if name == "MARK":
            self.stack.append(_MARK)
        elif name in _MEMO_PUT:
            index = len(self.memo) if name == "MEMOIZE" else arg
            if not isinstance(index, int) or not 0 <= index <= len(self.memo):
                raise ModelshrinkError(
                    f"memo index {quoted(index)} is out of order ({len(self.memo)} filled)"
                )
            self.memo[index] = self.pop()
            self.stack.append(self.memo[index])
        elif name in _MEMO_GET:
            if arg not in self.memo:
                raise ModelshrinkError(f"memo index {quoted(arg)} is read before it is filled")
            self.push(self.memo[arg])
        elif name == "DUP":
            depth = self.pop()
            self.stack.append(depth)
            self.push(depth)
        elif name == "POP":
            if self.stack and self.stack[-1] == _MARK:
                self.stack.pop()  # as in the C unpickler, POP also discards a bare MARK
            else:
                self.pop()
        elif name == "POP_MARK":
            self.pop_to_mark()
        else:
            self._apply(opcode)

    def _apply(self, opcode: pickletools.OpcodeInfo) -> None:
        """Any other opcode: consume what it takes, push what it makes one level deeper."""
        before = opcode.stack_before
        taken: list[int] = []
        if pickletools.markobject in before:
            taken = self.pop_to_mark()
            below = before.index(pickletools.markobject)
        else:
            below = len(before)
        held = [self.pop() for _ in range(below)][::-1]
        if not opcode.stack_after:
            return
        if opcode.name in _IN_PLACE:  # the object below keeps its place and grows
            added = held[1:] + taken
            self.push(max([held[0], *(depth + 1 for depth in added)]))
        else:
            self.push(1 + max(held + taken, default=-1))


def _scan(stream: io.BytesIO) -> int:
    """Walks one pickle from the stream's position; returns the offset just past STOP."""
    scan = _StackScan()
    end = stream.tell()
    try:
        for opcode, arg, position in pickletools.genops(stream):
            scan.step(opcode, arg)
            end = position + 1
    except ValueError as error:
        raise ModelshrinkError(
            f"not a complete pickle: truncated or corrupt ({brief(error)})"
        ) from error
    return end


class AllowList(NamedTuple):
    """What `find_class` may return, by (module, name), and how to say so in an error."""

    objects: Mapping[tuple[str, str], Any]
    description: str


#: For pickles that must hold plain data only.
NOTHING = AllowList({}, "this pickle may hold only plain numbers, strings, lists and dicts")


class RestrictedUnpickler(pickle.Unpickler):
    """Builds only from `allowed` objects; persistent ids go to `persistent` or are refused."""

    def __init__(
        self,
        stream: io.BytesIO,
        allowed: AllowList,
        persistent: Callable[[Any], Any] | None,
    ) -> None:
        super().__init__(stream)
        self.allowed = allowed
        self.persistent = persistent

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.objects.get((module, name))
        if found is None:
            raise ModelshrinkError(
                f"refusing to load: it references {quoted(f'{module}.{name}')}; "
                f"{self.allowed.description}"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        if self.persistent is None:
            raise ModelshrinkError("refusing to load: it holds a persistent id, which it may not")
        return self.persistent(pid)


def load_pickle(
    stream: io.BytesIO,
    source: Path,
    what: str,
    allowed: AllowList = NOTHING,
    persistent: Callable[[Any], Any] | None = None,
) -> Any:
    """The next pickle in `stream` (left just past it), or a ModelshrinkError naming
    `source` and `what` (which pickle of the file) and saying what was wrong."""
    start = stream.tell()
    try:
        end = _scan(stream)
        stream.seek(start)
        value = RestrictedUnpickler(stream, allowed, persistent).load()
    except ModelshrinkError as error:
        raise ModelshrinkError(f"{source}: {what}: {error}") from error
    except Exception as error:  # any failure to parse untrusted bytes is a refusal
        raise ModelshrinkError(
            f"{source}: {what} is not a valid pickle ({type(error).__name__}: {brief(error)})"
        ) from error
    stream.seek(end)
    return value
