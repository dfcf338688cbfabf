"""Base of the read writers: every output file appears only after a clean close.

A simulation streams each read to several writers at once (fast5, pod5, truth table,
training chunks); each writes into a temporary file beside its target and renames it
on success, so an interrupted run never leaves a plausible-looking partial output.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Self

from modelshrink.atomic import atomic_output
from modelshrink.simulate.reads import SimulatedRead


class ReadSink:
    """Context manager; subclasses open their format in `_open` and write one read in `add`."""

    suffix = ""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Self:
        temporary = self._stack.enter_context(atomic_output(self.path, suffix=self.suffix))
        try:
            self._open(temporary, self._stack)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._stack.__exit__(kind, error, traceback)

    def _open(self, temporary: Path, stack: contextlib.ExitStack) -> None:
        raise NotImplementedError

    def add(self, read: SimulatedRead) -> None:
        raise NotImplementedError


class RawSignalSink(ReadSink):
    """A raw-signal container (fast5, pod5): it also records the run's sample rate and id."""

    def __init__(self, path: str | Path, sampling_rate: float, sample_id: str = "simulated"):
        super().__init__(path)
        self.sampling_rate = sampling_rate
        self.sample_id = sample_id
