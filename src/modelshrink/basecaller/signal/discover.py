"""Turns the user's read paths (files or folders) into a list of fast5/pod5 files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from modelshrink.basecaller.signal.fast5 import iter_fast5
from modelshrink.basecaller.signal.pod5 import iter_pod5
from modelshrink.basecaller.signal.reads import RawRead, UncallableReadError
from modelshrink.errors import ModelshrinkError

READ_SUFFIXES = {".fast5": iter_fast5, ".pod5": iter_pod5}


def find_read_files(paths: Iterable[Path], recursive: bool = True) -> list[Path]:
    """Files given directly plus every *.fast5 / *.pod5 inside given folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(sorted(p for p in path.glob(pattern) if p.suffix in READ_SUFFIXES))
        elif path.is_file():
            if path.suffix not in READ_SUFFIXES:
                raise ModelshrinkError(
                    f"{path}: expected a .fast5 or .pod5 file or a folder of them"
                )
            found.append(path)
        else:
            raise ModelshrinkError(f"reads path {path} does not exist")
    if not found:
        raise ModelshrinkError(
            "no .fast5 or .pod5 files found in " + ", ".join(str(p) for p in paths)
        )
    return found


def iter_reads(files: Iterable[Path]) -> Iterator[RawRead | UncallableReadError]:
    for path in files:
        yield from READ_SUFFIXES[path.suffix](path)
