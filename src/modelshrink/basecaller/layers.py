"""Taiyaki's layers as plain PyTorch modules, with a registry keyed by layer type.

The module tree mirrors Taiyaki's (`sublayers.1.layer.cudnn_gru.weight_ih_l0`, …) so
state-dict keys are exactly Taiyaki's parameter names and configs written for the
original pruning/quantization scripts keep working. Tensors are time-major
[time, batch, features] as in Taiyaki.

Adding a layer type (e.g. Taiyaki's LSTM) means one `@register`ed class naming its
`layer_type`, `taiyaki_class` and `config_keys` (constructor arguments, which are also
the attribute names Taiyaki pickles, each with the rule its value must meet), with a
`forward`. Configs come from files, so `from_config` checks every value against its rule
before anything is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from modelshrink.basecaller.gru_kernel import float_gru_inference
from modelshrink.errors import ModelshrinkError, quoted

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "linear": lambda x: x,
}

LAYER_TYPES: dict[str, type[TaiyakiLayer]] = {}


def register(layer_class: type[TaiyakiLayer]) -> type[TaiyakiLayer]:
    LAYER_TYPES[layer_class.layer_type] = layer_class
    return layer_class


class ConfigRule(NamedTuple):
    """What one config value must be: a test and how to say it in an error."""

    test: Callable[[Any], bool]
    expected: str


def _is_positive_int(value: Any) -> bool:
    return type(value) is int and value >= 1


def _is_padding(value: Any) -> bool:
    return (
        type(value) in (list, tuple)
        and len(value) == 2
        and all(type(side) is int and side >= 0 for side in value)
    )


def _is_activation(value: Any) -> bool:
    return type(value) is str and value in ACTIVATIONS


def _is_bool(value: Any) -> bool:
    return type(value) is bool


def _is_finite_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


POSITIVE_INT = ConfigRule(_is_positive_int, "an integer >= 1")
PADDING = ConfigRule(_is_padding, "two integers >= 0")
ACTIVATION = ConfigRule(_is_activation, f"one of {sorted(ACTIVATIONS)}")
BOOL = ConfigRule(_is_bool, "true or false")
FINITE_NUMBER = ConfigRule(_is_finite_number, "a finite number")


def layer_from_config(config: Any) -> TaiyakiLayer:
    if not isinstance(config, Mapping):
        raise ModelshrinkError(f"a layer config is a {type(config).__name__}, expected a mapping")
    layer_type = config.get("type")
    if type(layer_type) is not str or layer_type not in LAYER_TYPES:
        raise ModelshrinkError(
            f"unknown layer type {quoted(layer_type)} in architecture; "
            f"expected one of {sorted(LAYER_TYPES)}"
        )
    return LAYER_TYPES[layer_type].from_config(config)


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ACTIVATIONS:
        raise ModelshrinkError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


class TaiyakiLayer(nn.Module):
    """Base of every registered layer: config in and out, read from Taiyaki's pickle."""

    layer_type: ClassVar[str]
    taiyaki_class: ClassVar[str]
    config_keys: ClassVar[Mapping[str, ConfigRule]]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TaiyakiLayer:
        for key, rule in cls.config_keys.items():
            if key in config and not rule.test(config[key]):
                raise ModelshrinkError(
                    f"{cls.layer_type} layer: {key} is {quoted(config[key])}, "
                    f"expected {rule.expected}"
                )
        try:
            return cls(**{key: config[key] for key in cls.config_keys if key in config})
        except TypeError as error:  # a required setting is missing
            raise ModelshrinkError(f"{cls.layer_type} layer: {error}") from error

    def to_config(self) -> dict[str, Any]:
        return {"type": self.layer_type, **{k: _plain(getattr(self, k)) for k in self.config_keys}}

    @classmethod
    def config_from_pickle(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        """Architecture config from the attributes Taiyaki pickled on the layer."""
        present = {k: _plain(attributes[k]) for k in cls.config_keys if k in attributes}
        return {"type": cls.layer_type, **present}


def _plain(value: Any) -> Any:
    """JSON-friendly: tuples become lists, numpy/torch scalars become Python numbers."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


@register
class Convolution(TaiyakiLayer):
    """Zero padding, strided 1-D convolution, activation (Taiyaki's `Convolution`)."""

    layer_type = "convolution"
    taiyaki_class = "Convolution"
    config_keys: ClassVar[Mapping[str, ConfigRule]] = {
        "insize": POSITIVE_INT,
        "size": POSITIVE_INT,
        "winlen": POSITIVE_INT,
        "stride": POSITIVE_INT,
        "padding": PADDING,
        "activation": ACTIVATION,
        "has_bias": BOOL,
    }

    def __init__(
        self,
        insize: int,
        size: int,
        winlen: int,
        stride: int,
        padding: tuple[int, int] | list[int],
        activation: str = "tanh",
        has_bias: bool = True,
    ) -> None:
        super().__init__()
        self.insize, self.size, self.winlen, self.stride = insize, size, winlen, stride
        self.padding = (int(padding[0]), int(padding[1]))
        if max(self.padding) > winlen:  # padding only centres the window
            raise ModelshrinkError(
                f"convolution layer: padding {list(self.padding)} exceeds the window {winlen}"
            )
        self.activation, self.activation_function = activation, _activation(activation)
        self.has_bias = has_bias
        self.conv = nn.Conv1d(insize, size, winlen, stride=stride, bias=has_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x.permute(1, 2, 0), self.padding)
        return self.activation_function(self.conv(x)).permute(2, 0, 1)


@register
class GruMod(TaiyakiLayer):
    """A plain torch GRU returning its output sequence (Taiyaki's `GruMod`).

    `cudnn_gru.bias_hh_l0` is all zeros in Taiyaki models (Taiyaki freezes it), so the
    forward pass is exactly torch's GRU.
    """

    layer_type = "gru"
    taiyaki_class = "GruMod"
    config_keys: ClassVar[Mapping[str, ConfigRule]] = {"insize": POSITIVE_INT, "size": POSITIVE_INT}

    def __init__(self, insize: int, size: int) -> None:
        super().__init__()
        self.insize, self.size = insize, size
        self.cudnn_gru = nn.GRU(insize, size, bias=True)

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if hasattr(self.cudnn_gru, "sequence"):  # a swapped-in int8 GRU
            return self.cudnn_gru.sequence(x, reverse)
        if torch.is_grad_enabled() or type(self.cudnn_gru) is not nn.GRU or x.is_cuda:
            # Training, another swapped-in module, or cuDNN: use the module itself.
            return self.cudnn_gru(x.flip(0))[0].flip(0) if reverse else self.cudnn_gru(x)[0]
        return float_gru_inference(x, self.cudnn_gru, reverse)


@register
class Reverse(TaiyakiLayer):
    """Runs the wrapped layer backwards in time (Taiyaki's `Reverse`)."""

    layer_type = "reverse"
    taiyaki_class = "Reverse"
    config_keys: ClassVar[Mapping[str, ConfigRule]] = {}

    def __init__(self, layer: TaiyakiLayer) -> None:
        super().__init__()
        self.layer = layer

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Reverse:
        return cls(layer_from_config(config.get("layer")))

    def to_config(self) -> dict[str, Any]:
        return {"type": self.layer_type, "layer": self.layer.to_config()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.layer, GruMod):
            return self.layer(x, reverse=True)
        return self.layer(x.flip(0)).flip(0)


@register
class GlobalNormFlipFlop(TaiyakiLayer):
    """`scale * tanh(linear(x))`: the 40 flip-flop transition scores per step.

    Despite the name nothing is normalised here; the decoder and the loss do that.
    """

    layer_type = "global_norm_flipflop"
    taiyaki_class = "GlobalNormFlipFlop"
    config_keys: ClassVar[Mapping[str, ConfigRule]] = {
        "insize": POSITIVE_INT,
        "nbase": POSITIVE_INT,
        "scale": FINITE_NUMBER,
        "activation": ACTIVATION,
    }

    def __init__(self, insize: int, nbase: int, scale: float, activation: str = "tanh") -> None:
        super().__init__()
        self.insize, self.nbase, self.scale = insize, nbase, float(scale)
        self.size = 2 * nbase * (nbase + 1)
        self.activation, self.activation_function = activation, _activation(activation)
        self.linear = nn.Linear(insize, self.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.activation_function(self.linear(x))
