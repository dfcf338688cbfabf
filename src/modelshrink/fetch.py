"""Bringing a file (a model, real reads, a reference, training data) into the workflow from
a URL or a local path, checksum verified.

Models and training data are never committed; the workflow downloads them (or copies a
user's file) and refuses to go on when the sha256 differs, so a truncated download or a
different file never silently changes the results.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError

URL_SCHEMES = ("http://", "https://", "ftp://")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: str, destination: Path, sha256: str | None = None) -> str:
    """Downloads or copies `source` to `destination`; returns its sha256 after checking it."""
    with atomic_output(destination) as temporary:
        if source.startswith(URL_SCHEMES):
            try:
                with (
                    urllib.request.urlopen(source, timeout=60) as response,
                    temporary.open("wb") as out,
                ):
                    shutil.copyfileobj(response, out)
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                raise ModelshrinkError(
                    f"cannot download {source}: {error}; offline, download it elsewhere and "
                    f"place it at {destination}"
                    + (f" (sha256 {sha256})" if sha256 else "")
                    + " or set the config key to its local path"
                ) from error
        else:
            path = Path(source).expanduser()
            if not path.is_file():
                raise ModelshrinkError(f"{source}: no such file (expected a URL or a local path)")
            shutil.copyfile(path, temporary)
        actual = sha256_of(temporary)
        if sha256 and actual != sha256.lower():
            raise ModelshrinkError(
                f"{source}: sha256 is {actual}, the config expects {sha256}; "
                "the file is damaged or not the one the config names"
            )
    return actual
