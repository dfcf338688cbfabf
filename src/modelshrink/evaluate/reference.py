"""Reference FASTA access for variant normalisation: whole contigs, uppercase."""

from __future__ import annotations

from pathlib import Path

from modelshrink.errors import ModelshrinkError


class ReferenceGenome:
    """Contig sequences by name, loaded once each (uppercase: soft-masking is irrelevant here).

    Uses the .fai index when there is one (or can be made); a reference in a read-only
    folder without an index is read whole instead, which is fine for microbial genomes.
    """

    def __init__(self, path: Path) -> None:
        import pysam

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelshrinkError(f"reference FASTA {self.path} does not exist")
        if self.path.stat().st_size == 0:
            raise ModelshrinkError(f"reference FASTA {self.path} is empty")
        self._cache: dict[str, str] = {}
        self._fasta = None
        try:
            self._fasta = pysam.FastaFile(str(self.path))
            self.lengths = dict(zip(self._fasta.references, self._fasta.lengths, strict=True))
        except (OSError, ValueError):
            self._load_all()
        if not self.lengths:
            raise ModelshrinkError(f"reference FASTA {self.path} has no sequences")

    def _load_all(self) -> None:
        import pysam

        try:
            with pysam.FastxFile(str(self.path)) as records:
                self._cache = {r.name: (r.sequence or "").upper() for r in records}
        except (OSError, ValueError) as error:
            raise ModelshrinkError(f"reference FASTA {self.path} is not valid: {error}") from error
        self.lengths = {name: len(sequence) for name, sequence in self._cache.items()}

    def __contains__(self, contig: str) -> bool:
        return contig in self.lengths

    def sequence(self, contig: str) -> str:
        if contig not in self._cache:
            if self._fasta is None or contig not in self.lengths:
                raise ModelshrinkError(f"contig {contig!r} is not in reference {self.path}")
            self._cache[contig] = self._fasta.fetch(contig).upper()
        return self._cache[contig]
