"""Taiyaki's layers as plain PyTorch modules, with a registry keyed by layer type.

The module tree mirrors Taiyaki's (`sublayers.1.layer.cudnn_gru.weight_ih_l0`, …) so
state-dict keys are exactly Taiyaki's parameter names and configs written for the
original pruning/quantization scripts keep working. Tensors are time-major
[time, batch, features] as in Taiyaki.

Adding a layer type (e.g. Taiyaki's LSTM) means one `@register`ed class naming its
`layer_type`, `taiyaki_class` and `config_keys` (constructor arguments, which are also
the attribute names Taiyaki pickles), with a `forward`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from modelshrink.errors import ModelshrinkError
from modelshrink.taiyaki.gru_kernel import float_gru_inference

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


def layer_from_config(config: dict[str, Any]) -> TaiyakiLayer:
    layer_type = config.get("type")
    if layer_type not in LAYER_TYPES:
        raise ModelshrinkError(
            f"unknown layer type {layer_type!r} in architecture; "
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
    config_keys: ClassVar[tuple[str, ...]]

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TaiyakiLayer:
        return cls(**{key: config[key] for key in cls.config_keys if key in config})

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
    config_keys = ("insize", "size", "winlen", "stride", "padding", "activation", "has_bias")

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
    config_keys = ("insize", "size")

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
    config_keys = ()

    def __init__(self, layer: TaiyakiLayer) -> None:
        super().__init__()
        self.layer = layer

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Reverse:
        return cls(layer_from_config(config["layer"]))

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
    config_keys = ("insize", "nbase", "scale", "activation")

    def __init__(self, insize: int, nbase: int, scale: float, activation: str = "tanh") -> None:
        super().__init__()
        self.insize, self.nbase, self.scale = insize, nbase, float(scale)
        self.size = 2 * nbase * (nbase + 1)
        self.activation, self.activation_function = activation, _activation(activation)
        self.linear = nn.Linear(insize, self.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.activation_function(self.linear(x))
