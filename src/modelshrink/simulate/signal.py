"""One read's R9.4.1 raw signal: k-mer levels held for a random dwell, plus noise, through an ADC.

The model, per read and per base i of the read (read orientation, 5'->3' through the pore):

- per read: a speed, bases_per_second x a log-normal factor (log SD `speed_spread`), and a
  noise level, noise_scale x a log-normal factor (log SD `noise_spread`), so reads differ in
  quality as real ones do; the pA scale and offset wander (scale_jitter, offset_jitter_pa),
  which median/MAD normalisation removes, as it must for real reads;
- level: the pore model's pA level of the 6-mer around base i (see `poremodel` for which
  base of the 6-mer the level belongs to), plus an optional per-event offset drawn from
  N(0, (level_jitter x the k-mer's spread)^2);
- dwell: gamma-distributed, continuous, mean sampling_rate / read speed samples, shape
  `dwell_shape`. The current changes at those continuous times and each sample is the mean
  current over its interval, so the sample a step falls in reads a mixture of the two
  levels, as in real reads. A base starts at the sample its step is rounded to (the truth's
  base_starts); bases shorter than half a sample get none (skips, as in real reads);
- noise: the k-mer's spread x the read's noise level x unit-variance AR(1) noise whose
  neighbouring samples correlate by `noise_correlation` (the amplifier's band limit);
- ADC: raw = round(pA x digitisation / range - offset), int16, with MinION constants
  (digitisation 8192, range 1455.56 pA) and a random integer channel offset, so that
  pA = (raw + offset) x range / digitisation as in every fast5 reader.

What real R9.4.1 reads show (`bench/real_signal_stats.py`: the seven reads of Taiyaki's
mapped-signal files, 49 k bases, each aligned sample by sample to its reference's 6-mer
levels by a banded Viterbi; the same alignment of simulated reads recovers what was
simulated), medians over reads:

    measure                     real                      simulated 410 b/s, shape 1.6,
                                                          noise 1.1, correlation 0.8
    samples per base            9.8 (8.8-11.3)            9.8
    dwell CV / under 4 samples  0.89 / 18 %               0.86 / 24 %
    noise SD, k-mer spreads     1.25                      1.11
    noise autocorrelation 1-4   0.44 0.27 0.14 0.07       0.54 0.33 0.18 0.08
    event means around 6-mer    0.70 spreads              0.70 (no level_jitter)
    homopolymer runs of 4 / 5   per-base dwell 0.98 / 0.97 x the read's mean; total CV
                                0.40 / 0.35 (independent dwells: 0.45 / 0.40; simulated
                                1.05 / 1.02, 0.38 / 0.37 against 0.43 / 0.39)

So: the speed varies between reads (log SD 0.08), dwells are irregular (gamma shape about
1.6), the noise is strongly low-pass (AR(1) with correlation 0.7-0.8) and that correlated
noise alone explains how far event means stray from the 6-mer levels. Homopolymers and
k-mers have no dwell effect of their own (per-base dwell in runs is the read's mean and
varies as independent dwells do; neither an additive per-position nor a per-6-mer model
predicts any held-out dwell variance), and successive dwells are uncorrelated. The 6-mer
levels themselves fit (systematic per-6-mer offset 0.36 pA); bases up to 8 away explain 8 %
of the event-mean variance (additive model).

Simulating exactly that is too hard for the pretrained Taiyaki model: 0.75 median identity
(sub 10 %, ins 6 %, del 10 %) against 0.91 on the real reads. The network knows real signal
better than a 6-mer model describes it (context beyond the 6-mer, which it learned), so a
simulated signal must be cleaner than the measured one to be called like a real one. The defaults
are therefore effective values, chosen by (1) the distance between the network's own
activations on simulated and on real reads (the Fréchet distance of each layer's
outputs, as FID does for images: smallest for noise_scale 0.8-0.9 with dwell_shape 2.5,
noise_correlation 0.5-0.65; the old white-noise, shape-4 model was 5x further away at
the output layer) and (2) whether the simulated reads predict what compression costs on
real reads (the table in config/README.md, "simulate").

Pretrained Taiyaki model (mGru_flipflop_remapping_model_r9_DNA) through `modelshrink
basecall` and `modelshrink identity reads` (Wick identity; rates per reference base of
the best alignment; "short": runs called shorter than they are):

    reads                          median  IQR    sub    ins    del    short hp4 / hp5 / hp6
    real, 10 that map              0.912   0.045  2.9 %  1.9 %  3.9 %  0.20 / 0.43 / 0.64
    old model (450 b/s, shape 4,   0.908   0.011  3.2 %  1.1 %  5.1 %  0.31 / 0.66 / 0.87
      white noise 1.0), 119 reads
    these defaults, 119 reads      0.895   0.034  3.7 %  2.2 %  5.0 %  0.28 / 0.58 / 0.90

Insertions now come as often as in real calls; deletions, substitutions and homopolymer
under-calls stay more frequent than real (the network's missing context knowledge again,
not a homopolymer effect of the pore: see above). Chosen: bases_per_second 410 and
speed_spread 0.08 (measured), dwell_shape 2.5, noise_scale 0.8, noise_correlation 0.5,
noise_spread 0.15 (read quality then spreads like the real reads'), level_jitter 0,
per-read scale jitter 3 % and offset jitter 3 pA. Simulating 0.5 Mb takes 1.3 s (3.9 M
samples/s, the old model 6.6 M), still about 40x faster than basecalling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelshrink.errors import ModelshrinkError
from modelshrink.simulate.poremodel import PoreModel

MAX_NOISE_CORRELATION = 0.95
AR_TAIL = 1e-4


@dataclass(frozen=True)
class SignalSpec:
    """Knobs of the signal model; defaults are the tuned, realistic setting."""

    sampling_rate: float = 4000.0
    bases_per_second: float = 410.0
    speed_spread: float = 0.08
    dwell_shape: float = 2.5
    noise_scale: float = 0.8
    noise_spread: float = 0.15
    noise_correlation: float = 0.5
    level_jitter: float = 0.0
    scale_jitter: float = 0.03
    offset_jitter_pa: float = 3.0
    digitisation: float = 8192.0
    range_pa: float = 1455.5595703125

    def __post_init__(self) -> None:
        positive = {
            "sampling_rate": self.sampling_rate,
            "bases_per_second": self.bases_per_second,
            "dwell_shape": self.dwell_shape,
            "digitisation": self.digitisation,
            "range_pa": self.range_pa,
        }
        non_negative = {
            "speed_spread": self.speed_spread,
            "noise_scale": self.noise_scale,
            "noise_spread": self.noise_spread,
            "noise_correlation": self.noise_correlation,
            "level_jitter": self.level_jitter,
            "scale_jitter": self.scale_jitter,
            "offset_jitter_pa": self.offset_jitter_pa,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ModelshrinkError(f"signal setting {key} must be > 0, got {value}")
        for key, value in non_negative.items():
            if not value >= 0:
                raise ModelshrinkError(f"signal setting {key} must be >= 0, got {value}")
        if not self.noise_correlation < MAX_NOISE_CORRELATION:
            raise ModelshrinkError(
                f"signal setting noise_correlation must be < {MAX_NOISE_CORRELATION}, got "
                f"{self.noise_correlation}"
            )

    @property
    def mean_dwell(self) -> float:
        return self.sampling_rate / self.bases_per_second


@dataclass(frozen=True)
class SimulatedSignal:
    """ADC samples plus where each read base starts.

    `base_starts` has len(read) + 1 entries: base j occupies samples
    [base_starts[j], base_starts[j + 1]) (empty for a skipped base); the last entry is the
    signal length (Taiyaki's Ref_to_signal convention).
    """

    raw: np.ndarray
    base_starts: np.ndarray
    offset: float
    digitisation: float
    range_pa: float

    def to_picoamps(self) -> np.ndarray:
        return (self.raw.astype(np.float64) + self.offset) * (self.range_pa / self.digitisation)


def encode_bases(sequence: str) -> np.ndarray:
    """ACGT string to int64 codes 0..3 (callers have already rejected other characters)."""
    table = np.full(256, 255, dtype=np.uint8)
    table[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4, dtype=np.uint8)
    codes = table[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    if (codes == 255).any():
        raise ModelshrinkError("signal simulation needs a pure ACGT sequence")
    return codes.astype(np.int64)


def _read_factor(spread: float, rng: np.random.Generator) -> float:
    """A per-read multiplier, log-normal with median 1 (drawn even when spread is 0, so that
    changing one spread leaves every other random draw of the read as it was)."""
    return float(np.exp(spread * rng.standard_normal()))


def _correlated_noise(count: int, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance first-order autoregressive noise: neighbouring samples correlate by
    `correlation`, samples k apart by correlation^k (the amplifier's band limit). White
    noise through the AR(1) filter's impulse response, cut where it falls below 1e-4."""
    taps = 1 if correlation == 0 else 1 + int(np.ceil(np.log(AR_TAIL) / np.log(correlation)))
    response = correlation ** np.arange(taps)
    white = rng.standard_normal(count + taps - 1)
    filtered = np.convolve(white, response)[taps - 1 : taps - 1 + count]
    return filtered / np.sqrt(np.sum(response**2))


def _integrate(levels: np.ndarray, bounds: np.ndarray, total: int) -> np.ndarray:
    """Mean current over each sample interval [t, t + 1) when level j holds from bounds[j] to
    bounds[j + 1] (continuous time): a sample that straddles a step reads a mixture."""
    times = np.concatenate([bounds, [bounds[-1] + 1.0]])
    charge = np.concatenate([[0.0], np.cumsum(levels * np.diff(bounds)), [0.0]])
    charge[-1] = charge[-2] + levels[-1]
    return np.diff(np.interp(np.arange(total + 1, dtype=np.float64), times, charge))


def simulate_signal(
    context: str, model: PoreModel, spec: SignalSpec, rng: np.random.Generator
) -> SimulatedSignal:
    """Signal of the read inside `context`, which has model.shift bases of flank before the read
    and k - 1 - shift after it (in read orientation)."""
    codes = model.kmer_codes(encode_bases(context))
    count = len(codes)
    if count <= 0:
        raise ModelshrinkError(f"a read needs at least {model.k} bases of context, got {count}")
    speed = _read_factor(spec.speed_spread, rng)
    noise = spec.noise_scale * _read_factor(spec.noise_spread, rng)
    levels = model.level_pa[codes]
    spread = model.stdv_pa[codes]
    if spec.level_jitter > 0:
        levels = levels + rng.normal(0.0, 1.0, count) * (spec.level_jitter * spread)
    mean_dwell = spec.mean_dwell / speed
    dwell = rng.gamma(spec.dwell_shape, mean_dwell / spec.dwell_shape, count)
    bounds = np.concatenate([[0.0], np.cumsum(dwell)])
    base_starts = np.rint(bounds).astype(np.int64)
    total = int(base_starts[-1])
    picoamps = _integrate(levels, bounds, total)
    if noise > 0:
        per_sample = np.repeat(noise * spread, np.diff(base_starts))
        picoamps += _correlated_noise(total, spec.noise_correlation, rng) * per_sample
    scale = 1.0 + spec.scale_jitter * rng.standard_normal()
    shift = spec.offset_jitter_pa * rng.standard_normal()
    picoamps = picoamps * scale + shift
    offset = float(rng.integers(0, 25))
    digits = np.rint(picoamps * (spec.digitisation / spec.range_pa) - offset)
    raw = np.clip(digits, -32768, 32767).astype(np.int16)
    return SimulatedSignal(raw, base_starts, offset, spec.digitisation, spec.range_pa)
