"""The signal model's realism knobs on small simulated sets: per-read noise and speed that
vary as configured, noise correlated like the amplifier's, steps between samples."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.poremodel import load_pore_model
from modelshrink.simulate.signal import SignalSpec, simulate_signal

READS = 40
BASES = 1000
QUIET = SignalSpec(
    speed_spread=0,
    noise_spread=0,
    noise_correlation=0,
    level_jitter=0,
    scale_jitter=0,
    offset_jitter_pa=0,
)


@pytest.fixture(scope="module")
def model():
    return load_pore_model()


@pytest.fixture(scope="module")
def context() -> str:
    return "".join(np.random.default_rng(5).choice(list("ACGT"), BASES + 5))


def _noise(context: str, model, spec: SignalSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(the signal's noise in pA, the read's base starts): the same read simulated with and
    without noise differs only by its noise, as every other draw comes first."""
    noisy = simulate_signal(context, model, spec, np.random.default_rng(seed))
    clean_spec = dataclasses.replace(spec, noise_scale=0.0)
    clean = simulate_signal(context, model, clean_spec, np.random.default_rng(seed))
    np.testing.assert_array_equal(noisy.base_starts, clean.base_starts)
    return noisy.to_picoamps() - clean.to_picoamps(), noisy.base_starts


def _per_read_log_noise(context: str, model, spec: SignalSpec) -> np.ndarray:
    return np.log([_noise(context, model, spec, seed)[0].std() for seed in range(READS)])


def test_noise_level_varies_between_reads_as_configured(context: str, model) -> None:
    fixed = _per_read_log_noise(context, model, dataclasses.replace(QUIET, noise_spread=0.0))
    spread = _per_read_log_noise(context, model, dataclasses.replace(QUIET, noise_spread=0.3))
    assert fixed.std() < 0.05  # only the k-mer mix of the dwells differs between reads
    assert 0.2 < spread.std() < 0.4
    # the median read keeps noise_scale x the k-mer spread (median 2.1 pA)
    assert np.exp(np.median(spread)) == pytest.approx(np.exp(np.median(fixed)), rel=0.15)


def test_speed_varies_between_reads_as_configured(context: str, model) -> None:
    def log_samples_per_base(spread: float) -> np.ndarray:
        spec = dataclasses.replace(QUIET, speed_spread=spread)
        rngs = (np.random.default_rng(seed) for seed in range(READS))
        return np.log([len(simulate_signal(context, model, spec, r).raw) / BASES for r in rngs])

    fixed, spread = log_samples_per_base(0.0), log_samples_per_base(0.2)
    assert fixed.std() < 0.04
    assert 0.13 < spread.std() < 0.27
    assert np.exp(np.median(fixed)) == pytest.approx(4000 / QUIET.bases_per_second, rel=0.02)


@pytest.mark.parametrize("correlation", [0.0, 0.5, 0.8])
def test_noise_is_first_order_autoregressive(context: str, model, correlation: float) -> None:
    spec = dataclasses.replace(QUIET, noise_correlation=correlation)
    noise = np.concatenate([_noise(context, model, spec, seed)[0] for seed in range(4)])
    lag1 = np.corrcoef(noise[:-1], noise[1:])[0, 1]
    lag2 = np.corrcoef(noise[:-2], noise[2:])[0, 1]
    assert lag1 == pytest.approx(correlation, abs=0.03)
    assert lag2 == pytest.approx(correlation**2, abs=0.03)


def test_noise_correlation_keeps_the_noise_level(context: str, model) -> None:
    white = _noise(context, model, QUIET, 1)[0].std()
    correlated = _noise(context, model, dataclasses.replace(QUIET, noise_correlation=0.8), 1)
    assert correlated[0].std() == pytest.approx(white, rel=0.1)


def test_a_step_between_samples_mixes_the_two_levels(model) -> None:
    """Dwells are continuous: the sample a step falls in reads a mixture of the two levels,
    every other sample its base's level."""
    spec = dataclasses.replace(QUIET, noise_scale=0.0, dwell_shape=50.0)
    context = "ACGTACGTTGCA"
    signal = simulate_signal(context, model, spec, np.random.default_rng(3))
    picoamps = signal.to_picoamps()
    levels = model.level_pa[model.kmer_codes(np.array(["ACGT".index(b) for b in context]))]
    mixed = 0
    for base, level in enumerate(levels):
        begin, end = signal.base_starts[base], signal.base_starts[base + 1]
        inside = picoamps[begin + 1 : end - 1]
        assert np.abs(inside - level).max() < 0.2  # one ADC step is 0.18 pA
        mixed += int(np.abs(picoamps[begin] - level) > 0.2)
    assert 0 < mixed < len(levels)  # some steps fall mid-sample, none is wider than one


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"noise_correlation": 0.95}, "noise_correlation must be < 0.95"),
        ({"noise_spread": -0.1}, "noise_spread must be >= 0"),
        ({"speed_spread": -1.0}, "speed_spread must be >= 0"),
    ],
)
def test_bad_signal_settings_name_the_key(changes: dict, message: str) -> None:
    with pytest.raises(ModelshrinkError, match=message):
        SignalSpec(**changes)
