"""The R9.4.1 pore model: pinned fetch, which base a level belongs to, user files, bad files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.poremodel import (
    MODEL_SHA256,
    fetch_default_model,
    load_pore_model,
    write_pore_model_tsv,
)
from modelshrink.simulate.signal import SignalSpec, encode_bases, simulate_signal


@pytest.fixture(scope="module")
def r9_model_path() -> Path:
    """Fetched once into the user's cache (pip download of the pinned uncalled4 sdist)."""
    return fetch_default_model()


def test_default_model_is_the_pinned_r9_6mer(r9_model_path: Path) -> None:
    assert hashlib.sha256(r9_model_path.read_bytes()).hexdigest() == MODEL_SHA256
    model = load_pore_model(r9_model_path)
    assert (model.k, model.shift) == (6, 2)
    assert model.level_pa.shape == (4096,)
    # pA levels of R9.4.1 DNA sit between about 55 and 120 pA (uncalled4: 90.2 +- 12.9 x level)
    assert 55 < model.level_pa.min() < model.level_pa.max() < 125
    assert 1.5 < np.median(model.stdv_pa) < 2.5


def test_tsv_round_trip_matches_npz(r9_model_path: Path, tmp_path: Path) -> None:
    model = load_pore_model(r9_model_path)
    text = io.StringIO()
    write_pore_model_tsv(model, text)
    tsv = tmp_path / "template_median68pA.model"
    tsv.write_text("# ONT kmer model\n" + text.getvalue())
    again = load_pore_model(tsv)
    assert (again.k, again.shift) == (6, 2)
    np.testing.assert_allclose(again.level_pa, model.level_pa, atol=1e-4)
    np.testing.assert_allclose(again.stdv_pa, model.stdv_pa, atol=1e-4)


def test_level_belongs_to_third_base_of_the_6mer(r9_model_path: Path) -> None:
    """Noise-free signal of context 'AACGTTT' holds the level of 6-mers AACGTT then ACGTTT;
    the one sample that straddles the step reads a mixture of the two levels."""
    model = load_pore_model(r9_model_path)
    spec = SignalSpec(
        noise_scale=0, scale_jitter=0, offset_jitter_pa=0, dwell_shape=50, speed_spread=0
    )
    signal = simulate_signal("AACGTTT", model, spec, np.random.default_rng(0))
    picoamps = signal.to_picoamps()
    first, second = model.level_pa[model.kmer_codes(encode_bases("AACGTTT"))]
    assert len(signal.base_starts) == 3  # read bases C and G, read from 'AACGTTT'
    adc_step = 0.2  # one ADC step is 0.18 pA
    off_level = np.flatnonzero(
        (np.abs(picoamps - first) > adc_step) & (np.abs(picoamps - second) > adc_step)
    )
    assert len(off_level) <= 1
    step = signal.base_starts[1]
    assert np.abs(picoamps[: step - 1] - first).max() < adc_step
    assert np.abs(picoamps[step + 1 :] - second).max() < adc_step
    for index in off_level:
        assert index in (step - 1, step)
        assert min(first, second) < picoamps[index] < max(first, second)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04garbage", "not a readable .npz"),
        (
            b"kmer\tlevel\nAAAAAA\t80\n",
            "expected a header line with columns 'kmer' and 'level_mean'",
        ),
        (b"kmer\tlevel_mean\nAAAAAA\t80\nAAAAAC\t81\n", "has 2 distinct 6-mers, expected all 4096"),
        (b"kmer\tlevel_mean\nAAXAAA\t80\n", "is not a 6-mer of ACGT"),
        (b"\xff\xfe\x00", "cannot read pore model"),
    ],
)
def test_unreadable_pore_model_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(ModelshrinkError, match=message):
        load_pore_model(path)


def test_missing_pore_model_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelshrinkError, match=r"nope\.npz does not exist"):
        load_pore_model(tmp_path / "nope.npz")
