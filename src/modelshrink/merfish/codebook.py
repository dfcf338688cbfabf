"""merFISH barcodes: 16 bits, Hamming weight 4, minimum Hamming distance 4 (MHD4).

Distance 4 between weight-4 words means two codewords share at most two ON bits, so any
single-bit read error still decodes to the right word. Bit `2 * round + channel` is imaged in
`round` (0-based) with `channel` 0 = 647 nm, 1 = 750 nm; `bit_index` is the one place that
mapping lives.
"""

from __future__ import annotations

import itertools

import numpy as np

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.spec import BITS, CHANNELS, ROUNDS

HAMMING_WEIGHT = 4
MIN_DISTANCE = 4


def bit_index(round_index: int, channel_index: int) -> int:
    """Which barcode bit round `round_index`, channel `channel_index` images."""
    return len(CHANNELS) * round_index + channel_index


def make_codebook(size: int, seed: int) -> np.ndarray:
    """Greedy MHD4 code over a seeded shuffle of all weight-4 words: (size, 16) bool array."""
    words = [np.isin(np.arange(BITS), ones) for ones in itertools.combinations(range(BITS), 4)]
    order = np.random.default_rng(seed).permutation(len(words))
    chosen: list[np.ndarray] = []
    for index in order:
        word = words[index]
        if all(int(np.sum(word != other)) >= MIN_DISTANCE for other in chosen):
            chosen.append(word)
            if len(chosen) == size:
                return np.stack(chosen)
    raise ModelshrinkError(
        f"codebook_size: {size} barcodes requested but the greedy MHD4 code with seed {seed} "
        f"has only {len(chosen)}; ask for at most {len(chosen)}"
    )


def to_bit_string(word: np.ndarray) -> str:
    return "".join("1" if bit else "0" for bit in word)


def from_bit_string(text: str, where: str) -> np.ndarray:
    """Parse a barcode such as '0100...'; `where` names the file and line for the error."""
    text = text.strip()
    if len(text) != BITS or set(text) - {"0", "1"}:
        raise ModelshrinkError(
            f"{where}: barcode {text!r} is not a {BITS}-character string of 0 and 1"
        )
    return np.array([char == "1" for char in text], dtype=bool)


assert ROUNDS * len(CHANNELS) == BITS, "one barcode bit per round and channel"
