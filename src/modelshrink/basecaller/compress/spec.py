"""A variant, described once: typed spec parsed from the config's `variants.<name>` dict.

Why parse up front: every mistake in a variant (a typo in a parameter name, a sparsity
of 1.2, 9 bits, fine-tuning that would undo quantization) must be reported before any
model is loaded or trained, naming the config key and what was expected. Code below
the CLI receives these dataclasses and never sees the raw dict.

Example::

    prune: {method: magnitude, sparsity: {"sublayers.*.cudnn_gru.weight_hh_l0": 0.5}}
    quantize: {scheme: per_channel, bits: 8, params: all}
    finetune: {steps: 2000, learning_rate: 1.0e-4, layerwise: true}

Gradual pruning (12.5, 25, 37.5, 50 %) with distillation from the original::

    prune: {sparsity: {"sublayers.*.cudnn_gru.weight_*": 0.5}, iterations: 4}
    finetune: {steps: 150, learning_rate: 1.0e-3, objective: distill}

Order is always prune -> fine-tune -> quantize (or fine-tune with fake quantization);
an explicit `order` that quantizes before pruning is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelshrink.basecaller.compress.layout import (
    GRU_MODULE,
    GRU_WEIGHTS,
    TAIYAKI_PARAMETER_NAMES,
    is_gru_weight,
)
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import assign_layers, assign_values, layer_names, match_names
from modelshrink.toolbox.quantize_config import (
    FloatConfig,
    PerChannelConfig,
    QuantizeConfig,
    ScaledTernaryConfig,
    ScaleQuantConfig,
    TernaryConfig,
    check_bits,
)
from modelshrink.toolbox.sparsity import check_sparsity, read_prune_data_txt

PRUNE_METHODS = ("magnitude", "global", "structured", "obs")
SCHEMES = (
    "scale",
    "per_channel",
    "float16",
    "bfloat16",
    "ternary",
    "scaled_ternary",
    "dynamic_int8",
)
#: Signal samples per training chunk: Taiyaki's basecall chunk (1000 steps x stride 4).
DEFAULT_CHUNK_SAMPLES = 4000
#: The converted, uncompressed model: the baseline every variant is compared with; no
#: variant may take its name.
ORIGINAL = "original"
_SCHEME_ALIASES = {"fp16": "float16", "bf16": "bfloat16", "original": "scale"}
_BIT_SCHEMES = ("scale", "per_channel", "dynamic_int8")
STAGES = ("prune", "quantize")
#: round: every weight to its nearest code; gptq: codes chosen to keep each layer's
#: outputs on calibration signal (`compress.gptq`), per_channel only.
QUANTIZE_METHODS = ("round", "gptq")
OBJECTIVES = ("crf", "distill", "mixed")


@dataclass(frozen=True)
class PruneSpec:
    """How to prune: `sparsity` maps names/globs (layers, for structured) to fractions,
    already merged with the entries of an original-tool `data_txt` file.

    `iterations` > 1 is gradual magnitude pruning: the sparsity is reached in that many
    equal increments (0.25 then 0.5 for 2), with `finetune.steps` of fine-tuning after
    each, because removing half the GRU weights at once leaves a network that calls
    nothing (path KL to the original ~1.5 per step, against ~0.1 for a quarter) and
    has to be rebuilt, while smaller cuts can be healed.
    """

    method: str
    sparsity: dict[str, float]
    data_txt: Path | None = None
    iterations: int = 1


@dataclass(frozen=True)
class QuantizeSpec:
    """Which scheme on which parameters; `config` is None for dynamic_int8, which is
    applied to modules at load time rather than to stored tensors.

    `bits_by_param` (names or globs -> bits, from `bits` given as a mapping) gives each
    named tensor its own bit-width, as a sensitivity scan proposes; `params` then lists
    its keys and `config` holds the widest bit-width. `method` "gptq" calibrates on the
    training chunks, as OBS pruning does.
    """

    scheme: str
    params: str | tuple[str, ...]
    config: QuantizeConfig | None
    bits: int | None = None
    bits_by_param: dict[str, int] | None = None
    method: str = "round"


@dataclass(frozen=True)
class FinetuneSpec:
    """Fine-tuning after pruning (masks re-applied each step) or as quantization-aware
    training (`qat`, fake quantization with straight-through gradients).

    `layerwise` is the original schedule: one layer at a time, last GRU first, the
    others frozen, `steps` steps per layer.

    `objective`: "crf" trains on the labels (flip-flop CRF negative log-likelihood);
    "distill" trains the student to reproduce the uncompressed original's path
    distribution (`crf_loss.flipflop_kl`), which ignores the labels and does not pull
    the network towards the simulator's idea of a read; "mixed" adds both,
    `distill_weight` * KL + (1 - distill_weight) * CRF. The teacher is the model that
    `modelshrink compress` starts from.
    """

    steps: int = 1000
    learning_rate: float = 1e-4
    batch_size: int = 16
    chunk_length: int = DEFAULT_CHUNK_SAMPLES
    gradient_clip: float = 1.0
    layerwise: bool = False
    qat: bool = False
    seed: int = 1
    objective: str = "crf"
    distill_weight: float = 0.5


@dataclass(frozen=True)
class VariantSpec:
    name: str
    prune: PruneSpec | None = None
    quantize: QuantizeSpec | None = None
    finetune: FinetuneSpec | None = None

    @property
    def needs_training(self) -> bool:
        """Fine-tuning trains on the training chunks; OBS pruning and GPTQ calibrate on them."""
        return (
            self.finetune is not None
            or (self.prune is not None and self.prune.method == "obs")
            or (self.quantize is not None and self.quantize.method == "gptq")
        )

    @property
    def needs_labels(self) -> bool:
        """The crf and mixed objectives train on bases; distillation and OBS need signal only."""
        return self.finetune is not None and self.finetune.objective != "distill"


def _mapping(value: object, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ModelshrinkError(f"{where}: expected a mapping with keys {list(allowed)}")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise ModelshrinkError(f"{where}: unknown key(s) {unknown}; expected keys {list(allowed)}")
    return value


def _choice(value: object, where: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ModelshrinkError(f"{where}: {value!r} is not one of {list(choices)}")
    return str(value)


def _number(value: object, where: str, kind: type, minimum: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelshrinkError(f"{where}: {value!r} must be a {kind.__name__} > {minimum}")
    if kind is int and value != int(value):
        raise ModelshrinkError(f"{where}: {value!r} must be a whole number")
    if value <= minimum:
        raise ModelshrinkError(f"{where}: {value!r} must be > {minimum}")
    return kind(value)


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ModelshrinkError(f"{where}: {value!r} must be true or false")
    return value


def parse_prune(raw: object, where: str, parameter_names: Sequence[str] | None = None) -> PruneSpec:
    section = _mapping(raw, where, ("method", "sparsity", "data_txt", "iterations"))
    method = _choice(section.get("method", "magnitude"), f"{where}.method", PRUNE_METHODS)
    iterations = _number(section.get("iterations", 1), f"{where}.iterations", int, 0)
    if iterations > 1 and method == "structured":
        raise ModelshrinkError(
            f"{where}.iterations: gradual pruning applies to the magnitude and global "
            f"methods (structured pruning shrinks the tensors once); use iterations: 1"
        )
    data_txt = Path(section["data_txt"]) if section.get("data_txt") else None
    sparsity: dict[str, float] = dict(read_prune_data_txt(data_txt)) if data_txt else {}
    given = section.get("sparsity") or {}
    if not isinstance(given, Mapping):
        raise ModelshrinkError(
            f"{where}.sparsity: expected a mapping of parameter name to sparsity"
        )
    for key, value in given.items():
        fraction = check_sparsity(value, f"{where}.sparsity[{key!r}]")
        if key in sparsity and sparsity[key] != fraction:
            raise ModelshrinkError(
                f"{where}.sparsity[{key!r}]: {fraction} contradicts {sparsity[key]} in {data_txt}"
            )
        sparsity[str(key)] = fraction
    if not sparsity:
        raise ModelshrinkError(f"{where}: give 'sparsity' (name or glob -> 0..1) or 'data_txt'")
    if parameter_names is not None:
        _check_prune_targets(method, sparsity, parameter_names, f"{where}.sparsity")
    return PruneSpec(method, sparsity, data_txt, iterations)


def _check_prune_targets(
    method: str, sparsity: Mapping[str, float], parameter_names: Sequence[str], where: str
) -> None:
    """Every name and glob stands for something the method can prune: OBS re-solves GRU
    weight matrices only, and structured pruning cannot remove units of the output layer
    (its scores are the decoder's states). Found here, not after the model is loaded."""
    layers = layer_names(parameter_names)
    try:
        if method == "structured":
            targets = assign_layers(sparsity, layers)
        else:
            targets = assign_values(sparsity, parameter_names)
    except ModelshrinkError as error:
        raise ModelshrinkError(f"{where}: {error}") from error
    other = [name for name in targets if not is_gru_weight(name)]
    if method == "obs" and other:
        raise ModelshrinkError(
            f"{where}: method obs prunes GRU weight matrices only, not {', '.join(other)}; "
            f"expected names or globs of GRU weights (*.{GRU_MODULE}.{GRU_WEIGHTS[0]}, "
            f"*.{GRU_MODULE}.{GRU_WEIGHTS[1]})"
        )
    if method == "structured" and layers[-1] in targets:
        raise ModelshrinkError(
            f"{where}: {layers[-1]} is the output layer, whose units structured pruning "
            f"cannot remove; expected layers among {', '.join(layers[:-1])}"
        )


def _quantize_config(scheme: str, bits: int, float_format: bool) -> QuantizeConfig | None:
    if scheme == "scale":
        return ScaleQuantConfig(bits, float_format)
    if scheme == "per_channel":
        return PerChannelConfig(bits)
    if scheme in ("float16", "bfloat16"):
        return FloatConfig(scheme)
    if scheme == "ternary":
        return TernaryConfig()
    if scheme == "scaled_ternary":
        return ScaledTernaryConfig()
    return None


def parse_quantize(
    raw: object, where: str, parameter_names: Sequence[str] | None = None
) -> QuantizeSpec:
    section = _mapping(raw, where, ("scheme", "bits", "params", "float_format", "method"))
    scheme_name = section.get("scheme")
    scheme = _choice(_SCHEME_ALIASES.get(scheme_name, scheme_name), f"{where}.scheme", SCHEMES)
    method = _choice(section.get("method", "round"), f"{where}.method", QUANTIZE_METHODS)
    if method == "gptq" and scheme != "per_channel":
        raise ModelshrinkError(
            f"{where}.method: gptq chooses per-channel codes; use scheme: per_channel "
            f"(not {scheme})"
        )
    if "bits" in section and scheme not in _BIT_SCHEMES:
        raise ModelshrinkError(f"{where}.bits: only the schemes {list(_BIT_SCHEMES)} take bits")
    bits_by_param = _bits_by_param(section, where, parameter_names)
    if bits_by_param is not None:
        bits = max(bits_by_param.values())
        section = {**section, "params": list(bits_by_param)}
    else:
        bits = check_bits(section.get("bits", 8), f"{where}.bits")
    if scheme == "dynamic_int8" and bits_by_param is not None:
        raise ModelshrinkError(f"{where}.bits: dynamic_int8 takes one code width, not a mapping")
    float_format = _flag(section.get("float_format", False), f"{where}.float_format")
    if float_format and scheme != "scale":
        raise ModelshrinkError(f"{where}.float_format: applies to the 'scale' scheme only")
    params_raw = section.get("params", "all")
    if params_raw == "all":
        params: str | tuple[str, ...] = "all"
    elif (
        isinstance(params_raw, list) and params_raw and all(isinstance(p, str) for p in params_raw)
    ):
        params = tuple(params_raw)
        if parameter_names is not None:
            for pattern in params:
                match_names(pattern, parameter_names, f"{where}.params entry")
    else:
        raise ModelshrinkError(f"{where}.params: expected 'all' or a non-empty list of names")
    if scheme == "dynamic_int8" and params != "all":
        raise ModelshrinkError(
            f"{where}.params: dynamic_int8 converts every GRU and the linear layer; use 'all'"
        )
    config = _quantize_config(scheme, bits, float_format)
    return QuantizeSpec(
        scheme, params, config, bits if scheme in _BIT_SCHEMES else None, bits_by_param, method
    )


def _bits_by_param(
    section: Mapping[str, Any], where: str, parameter_names: Sequence[str] | None
) -> dict[str, int] | None:
    """`bits` given as {name or glob: bits}: each named tensor at its own bit-width (no
    `params` beside it: the mapping says which tensors are quantized)."""
    raw = section.get("bits")
    if not isinstance(raw, Mapping):
        return None
    if "params" in section:
        raise ModelshrinkError(
            f"{where}.params: per-parameter bits (a mapping) already name the quantized "
            f"tensors; remove params or give bits as one number"
        )
    if not raw:
        raise ModelshrinkError(f"{where}.bits: expected bits or a mapping of name/glob -> bits")
    bits = {str(key): check_bits(value, f"{where}.bits[{key!r}]") for key, value in raw.items()}
    if parameter_names is not None:
        assign_values(bits, parameter_names, f"{where}.bits entry")
    return bits


def parse_finetune(raw: object, where: str) -> FinetuneSpec:
    fields = FinetuneSpec.__dataclass_fields__
    section = _mapping(raw, where, tuple(fields))
    default = FinetuneSpec()
    values: dict[str, Any] = {}
    for key, value in section.items():
        kind = type(getattr(default, key))
        if key == "objective":
            values[key] = _choice(value, f"{where}.objective", OBJECTIVES)
        elif key == "distill_weight":
            weight = _number(value, f"{where}.distill_weight", float, 0)
            if weight >= 1:
                raise ModelshrinkError(
                    f"{where}.distill_weight: {value!r} must be in (0, 1); for pure "
                    f"distillation use objective: distill"
                )
            values[key] = weight
        elif kind is bool:
            values[key] = _flag(value, f"{where}.{key}")
        else:
            minimum = -1 if key == "seed" else 0
            values[key] = _number(value, f"{where}.{key}", kind, minimum)
    if "distill_weight" in values and values.get("objective") != "mixed":
        raise ModelshrinkError(
            f"{where}.distill_weight: weighs distillation against the CRF loss and needs "
            f"objective: mixed (objective is {values.get('objective', 'crf')!r})"
        )
    return FinetuneSpec(**values)


def parse_variant(
    name: str, raw: Mapping[str, Any], parameter_names: Sequence[str] | None = None
) -> VariantSpec:
    """Parse and check one variant; `parameter_names`, when given, also checks every
    parameter name and glob against the model."""
    where = f"variants.{name}"
    section = _mapping(raw, where, ("prune", "quantize", "finetune", "order", "description"))
    order = section.get("order", list(STAGES))
    if (
        not isinstance(order, list)
        or sorted(order) != sorted(set(order))
        or set(order) - set(STAGES)
    ):
        raise ModelshrinkError(f"{where}.order: expected a list drawn from {list(STAGES)}")
    if order == ["quantize", "prune"]:
        raise ModelshrinkError(
            f"{where}.order: quantizing before pruning makes no sense (pruning moves weights "
            f"off the quantization grid and the zeros are lost to the scales); use "
            f"[prune, quantize]"
        )
    prune = (
        parse_prune(section["prune"], f"{where}.prune", parameter_names)
        if section.get("prune")
        else None
    )
    quantize = (
        parse_quantize(section["quantize"], f"{where}.quantize", parameter_names)
        if section.get("quantize")
        else None
    )
    finetune = (
        parse_finetune(section["finetune"], f"{where}.finetune") if "finetune" in section else None
    )
    if finetune and finetune.qat and quantize is not None and quantize.bits_by_param:
        raise ModelshrinkError(
            f"{where}.finetune.qat: quantization-aware fine-tuning takes one bit-width; "
            f"give quantize.bits as one number"
        )
    if finetune and finetune.qat and (quantize is None or quantize.config is None):
        raise ModelshrinkError(
            f"{where}.finetune.qat: quantization-aware fine-tuning needs a 'quantize' section "
            f"with a scheme other than dynamic_int8"
        )
    if finetune and quantize and not finetune.qat and prune is None:
        raise ModelshrinkError(
            f"{where}.finetune: fine-tuning a quantized model in float would undo the "
            f"quantization; set finetune.qat: true"
        )
    if prune and prune.iterations > 1 and finetune is None:
        raise ModelshrinkError(
            f"{where}.prune.iterations: gradual pruning fine-tunes after every increment; "
            f"add a 'finetune' section (or use iterations: 1)"
        )
    if finetune and prune is None and quantize is None:
        raise ModelshrinkError(f"{where}.finetune: nothing to fine-tune without prune or quantize")
    return VariantSpec(name, prune, quantize, finetune)


def parse_variants(
    raw: Mapping[str, Any], parameter_names: Sequence[str] | None = None
) -> dict[str, VariantSpec]:
    """All variants of a config's `variants:` mapping."""
    if not isinstance(raw, Mapping):
        raise ModelshrinkError("variants: expected a mapping of variant name to spec")
    return {
        str(name): parse_variant(str(name), spec or {}, parameter_names)
        for name, spec in raw.items()
    }


def validate_variants(
    raw_variants: Mapping[str, Any], parameter_names: Sequence[str] = TAIYAKI_PARAMETER_NAMES
) -> None:
    """Check every variant of a config at workflow start, without torch.

    Names and globs are checked against Taiyaki's R9.4.1 parameters unless other names
    are given; raises ModelshrinkError naming the variant and key at the first mistake.
    """
    parse_variants(raw_variants, parameter_names)
