"""Typed settings for the merFISH family, parsed once from config so code below never sees dicts.

Each spec knows how to build itself from a mapping (`from_mapping`) and names the offending
key in its error, so a typo in `config.yaml` fails before any tile is simulated or trained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Self

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.config_spec import spec_from_mapping

ROUNDS = 8
CHANNELS = ("647nm", "750nm")
BITS = 16


class _FromMapping:
    """`from_mapping` for the flat specs below; `WHERE` is their config key."""

    WHERE = "merfish"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str | None = None) -> Self:
        return spec_from_mapping(cls, values, where or cls.WHERE)


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ModelshrinkError(f"{where}: {message}")


def _require_each(
    spec: object, names: tuple[str, ...], test: Callable[[Any], bool], where: str, message: str
) -> None:
    """`_require` for several fields that share one rule (positive, >= 0, at least 1)."""
    for name in names:
        _require(test(getattr(spec, name)), f"{where}.{name}", message)


def _positive(value: float) -> bool:
    return value > 0


def _non_negative(value: float) -> bool:
    return value >= 0


def _at_least_one(value: int) -> bool:
    return value >= 1


@dataclasses.dataclass(frozen=True)
class SimulationSpec(_FromMapping):
    """How synthetic tiles are made; defaults give small tiles that train in seconds."""

    WHERE = "merfish.simulation"

    image_size: int = 32
    train_tiles: int = 16
    val_tiles: int = 4
    test_tiles: int = 4
    emitter_count: int = 12
    codebook_size: int = 64
    psf_sigma: float = 1.0
    subpixel_jitter: float = 0.0
    photons: float = 600.0
    background: float = 40.0
    read_noise: float = 2.0
    camera_offset: float = 100.0
    seed: int = 0

    def validate(self, where: str = "merfish.simulation") -> None:
        _require(
            self.image_size >= 8 and self.image_size % 4 == 0,
            f"{where}.image_size",
            f"expected a multiple of 4 that is at least 8 (two 2x poolings), got {self.image_size}",
        )
        tiles = ("train_tiles", "val_tiles", "test_tiles")
        _require_each(self, tiles, _at_least_one, where, "expected at least 1 tile")
        _require(
            0 < self.emitter_count <= self.image_size**2 // 4,
            f"{where}.emitter_count",
            f"expected 1..{self.image_size**2 // 4} for {self.image_size}x{self.image_size} tiles",
        )
        _require(self.codebook_size >= 1, f"{where}.codebook_size", "expected at least 1")
        _require_each(
            self, ("psf_sigma", "photons"), _positive, where, "expected a positive number"
        )
        _require(
            0 <= self.subpixel_jitter < 0.5,
            f"{where}.subpixel_jitter",
            "expected 0 <= jitter < 0.5 (pixels; the emitter stays in its truth pixel)",
        )
        noise = ("background", "read_noise", "camera_offset")
        _require_each(self, noise, _non_negative, where, "expected a number >= 0")


@dataclasses.dataclass(frozen=True)
class ModelSpec(_FromMapping):
    """Architecture knobs. `width` scales every channel count (48/96/192 at width 1.0)."""

    WHERE = "merfish.model"

    width: float = 1.0

    def validate(self, where: str = "merfish.model") -> None:
        _require(
            0 < self.width <= 4, f"{where}.width", f"expected 0 < width <= 4, got {self.width}"
        )

    def channels(self, base: int) -> int:
        """Channel count of a layer that has `base` channels in the full-size network."""
        return max(2, round(base * self.width))


SCHEDULES = ("constant", "onecycle")


@dataclasses.dataclass(frozen=True)
class TrainSpec(_FromMapping):
    """Optimiser and loss settings; the loss weights are documented in `train.anglerfish_loss`.

    `schedule: onecycle` warms the learning rate up to `learning_rate` and anneals it to ~0
    (short budgets converge much further than at a constant rate); `augment` trains on random
    flips and quarter turns of each batch (emitters have no orientation, and small training
    sets are otherwise memorised tile by tile).
    """

    WHERE = "merfish.train"

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    grad_clip: float = 0.01
    position_weight: float = 1.0
    barcode_weight: float = 16.0
    empty_pixel_weight: float = 0.1
    schedule: str = "constant"
    augment: bool = False
    seed: int = 0

    def validate(self, where: str = "merfish.train") -> None:
        _require_each(self, ("epochs", "batch_size"), _at_least_one, where, "expected at least 1")
        _require(
            self.schedule in SCHEDULES,
            f"{where}.schedule",
            f"expected one of {', '.join(SCHEDULES)}, got {self.schedule!r}",
        )
        rates = ("learning_rate", "grad_clip")
        _require_each(self, rates, _positive, where, "expected a positive number")
        weights = ("weight_decay", "position_weight", "barcode_weight", "empty_pixel_weight")
        _require_each(self, weights, _non_negative, where, "expected a number >= 0")


METHODS = ("float32", "fp16", "dynamic", "static", "qat", "prune")


@dataclasses.dataclass(frozen=True)
class VariantSpec(_FromMapping):
    """One compressed variant. `epochs`/`learning_rate` drive QAT and pruning fine-tuning;
    `calibration_tiles` is how many training tiles static int8 observes; `layers` is a glob over
    parameter names (e.g. `stage2.*`) selecting which conv weights pruning touches;
    `freeze_batch_norm` keeps batch-norm statistics fixed while QAT or pruning fine-tunes."""

    WHERE = "merfish.variants"

    method: str = "static"
    calibration_tiles: int = 32
    epochs: int = 3
    learning_rate: float = 1e-4
    sparsity: float = 0.5
    layers: str = "*"
    freeze_batch_norm: bool = True

    def validate(self, where: str = "merfish.variants") -> None:
        _require(
            self.method in METHODS,
            f"{where}.method",
            f"expected one of {', '.join(METHODS)}, got {self.method!r}",
        )
        _require(self.calibration_tiles >= 1, f"{where}.calibration_tiles", "expected at least 1")
        _require(self.epochs >= 0, f"{where}.epochs", "expected 0 or more")
        _require(
            self.method != "qat" or self.epochs >= 1,
            f"{where}.epochs",
            "expected at least 1 for qat (its observers only see data while training)",
        )
        _require(self.learning_rate > 0, f"{where}.learning_rate", "expected a positive number")
        _require(0 <= self.sparsity < 1, f"{where}.sparsity", "expected 0 <= sparsity < 1")


@dataclasses.dataclass(frozen=True)
class MerfishConfig:
    """The `merfish:` section of config.yaml, parsed once."""

    simulation: SimulationSpec = SimulationSpec()
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()
    variants: Mapping[str, VariantSpec] = dataclasses.field(default_factory=dict)

    def variant(self, name: str) -> VariantSpec:
        """A configured variant, or a method name used as a variant with default settings."""
        if name in self.variants:
            return self.variants[name]
        if name in METHODS:
            return VariantSpec(method=name)
        raise ModelshrinkError(
            f"merfish.variants: no variant {name!r}; configured: "
            f"{', '.join(self.variants) or 'none'}; or use a method name ({', '.join(METHODS)})"
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "merfish") -> Self:
        known = {"simulation", "model", "train", "variants"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelshrinkError(
                f"{where}: unknown key(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(known))}"
            )
        sections = {}
        for key in ("simulation", "model", "train", "variants"):
            section = values.get(key) or {}
            if not isinstance(section, Mapping):
                raise ModelshrinkError(f"{where}.{key}: expected a mapping, got {section!r}")
            sections[key] = section
        variants = {}
        for name, section in sections["variants"].items():
            if not isinstance(section, Mapping):
                raise ModelshrinkError(f"{where}.variants.{name}: expected a mapping")
            variants[str(name)] = VariantSpec.from_mapping(section, f"{where}.variants.{name}")
        return cls(
            simulation=SimulationSpec.from_mapping(sections["simulation"], f"{where}.simulation"),
            model=ModelSpec.from_mapping(sections["model"], f"{where}.model"),
            train=TrainSpec.from_mapping(sections["train"], f"{where}.train"),
            variants=variants,
        )
