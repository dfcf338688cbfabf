"""Typed simulation settings, parsed once from a config section or command-line flags.

Config layout (all keys optional; the defaults below make the demo data):

```yaml
simulate:
  genome:   {length: 50000, gc: 0.5, contigs: 1, seed: 1}
  variants: {snps: 100, indels: 20, max_indel: 10, homopolymer_fraction: 0.3,
             min_gap: 10, sample_name: sample, seed: 2}
  reads:    {coverage: 20, mean_length: 5000, length_sd: 2500, min_length: 500,
             chunk_samples: 4000 (DEFAULT_CHUNK_SAMPLES), seed: 3,
             signal: {bases_per_second: 410, speed_spread: 0.08, dwell_shape: 2.5,
                      noise_scale: 0.8, noise_spread: 0.15, noise_correlation: 0.5, ...}}
```

`signal` keys are the fields of `modelshrink.simulate.signal.SignalSpec`. Parsing (key and
type checks, the nested `signal` section) is `modelshrink.toolbox.config_spec.spec_from_mapping`,
re-exported here for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelshrink.basecaller.compress.spec import DEFAULT_CHUNK_SAMPLES
from modelshrink.simulate.signal import SignalSpec
from modelshrink.toolbox.config_spec import spec_from_mapping

__all__ = ["GenomeSpec", "GenomicVariantSpec", "ReadSpec", "SignalSpec", "spec_from_mapping"]


@dataclass(frozen=True)
class GenomeSpec:
    length: int = 50_000
    gc: float = 0.5
    contigs: int = 1
    seed: int = 1


@dataclass(frozen=True)
class GenomicVariantSpec:
    snps: int = 100
    indels: int = 20
    max_indel: int = 10
    homopolymer_fraction: float = 0.3
    min_gap: int = 10
    sample_name: str = "sample"
    seed: int = 2


@dataclass(frozen=True)
class ReadSpec:
    coverage: float = 20.0
    mean_length: float = 5000.0
    length_sd: float = 2500.0
    min_length: int = 500
    #: training chunk length in samples (Taiyaki's basecall chunk)
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES
    seed: int = 3
    signal: SignalSpec = field(default_factory=SignalSpec)
