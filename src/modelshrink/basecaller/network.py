"""The whole flip-flop network: an architecture dict in, a torch module out.

The architecture dict is what `modelshrink convert` stores beside the weights, so a
model can be rebuilt without unpickling anything. Architectures come from files: with
weights given, the network is first built on the meta device (shapes, no memory) and
every weight's name and shape checked, so a file claiming a 10^6-wide GRU is refused
before anything is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from modelshrink.basecaller.layers import Convolution, GlobalNormFlipFlop, layer_from_config
from modelshrink.errors import ModelshrinkError, quoted

ARCHITECTURE_FAMILY = "taiyaki-flipflop"


@dataclass(frozen=True)
class Architecture:
    """Layer configs plus what the basecaller needs to know about its input and output."""

    layers: list[dict[str, Any]]
    alphabet: str = "ACGT"
    standardize: bool = True
    reverse: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": ARCHITECTURE_FAMILY,
            "alphabet": self.alphabet,
            "standardize": self.standardize,
            "reverse": self.reverse,
            "layers": self.layers,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "architecture") -> Architecture:
        if data.get("family") != ARCHITECTURE_FAMILY:
            raise ModelshrinkError(
                f"{source}: expected a {ARCHITECTURE_FAMILY!r} model, "
                f"found family {data.get('family')!r}"
            )
        known = {"family", "alphabet", "standardize", "reverse", "layers"}
        layers = data.get("layers")
        alphabet = data.get("alphabet", "ACGT")
        if type(layers) is not list or type(alphabet) is not str:
            raise ModelshrinkError(
                f"{source}: expected 'layers' to be a list and 'alphabet' a string, found "
                f"{type(layers).__name__} and {type(alphabet).__name__}"
            )
        return cls(
            layers=layers,
            alphabet=alphabet,
            standardize=bool(data.get("standardize", True)),
            reverse=bool(data.get("reverse", False)),
            extra={k: v for k, v in data.items() if k not in known},
        )


class FlipFlopNetwork(nn.Module):
    """Taiyaki's `Serial` of layers; input [T, B, 1] normalised signal, output [T/stride, B, 40]."""

    def __init__(self, architecture: Architecture) -> None:
        super().__init__()
        self.architecture = architecture
        self.sublayers = nn.ModuleList(layer_from_config(config) for config in architecture.layers)
        if not self.sublayers or not isinstance(self.sublayers[-1], GlobalNormFlipFlop):
            raise ModelshrinkError("architecture: the last layer must be global_norm_flipflop")
        alphabet = architecture.alphabet
        if not (alphabet.isascii() and alphabet.isalpha()) or len(set(alphabet)) != len(alphabet):
            raise ModelshrinkError(
                f"architecture: alphabet {quoted(alphabet)} is not distinct letters"
            )
        if len(alphabet) != self.sublayers[-1].nbase:
            raise ModelshrinkError(
                f"architecture: alphabet {alphabet!r} has {len(alphabet)} bases, the flip-flop "
                f"layer {self.sublayers[-1].nbase}"
            )

    @property
    def stride(self) -> int:
        return math.prod(m.stride for m in self.modules() if isinstance(m, Convolution))

    @property
    def alphabet(self) -> str:
        return self.architecture.alphabet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.sublayers:
            x = layer(x)
        return x


def _check_weights(architecture: Architecture, tensors: Mapping[str, torch.Tensor]) -> None:
    """Every weight named and shaped as the architecture says, checked without allocating."""
    with torch.device("meta"):
        expected = FlipFlopNetwork(architecture).state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelshrinkError(
            f"weights do not match the architecture: missing {missing[:10]}, "
            f"unexpected [{', '.join(quoted(name) for name in unexpected[:10])}]"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelshrinkError(
                f"weight {name} has shape {tuple(tensor.shape)}, "
                f"the architecture expects {tuple(expected[name].shape)}"
            )


def build_network(
    architecture: Architecture,
    tensors: Mapping[str, torch.Tensor] | None = None,
    source: str | None = None,
) -> FlipFlopNetwork:
    """Builds the network and, when given, loads weights checking every name and shape.

    `source` (the file the architecture came from) prefixes any error.
    """
    try:
        if tensors is not None:
            _check_weights(architecture, tensors)
        network = FlipFlopNetwork(architecture)
    except ModelshrinkError as error:
        if source is None:
            raise
        raise ModelshrinkError(f"{source}: {error}") from error
    if tensors is not None:
        network.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    return network.eval()
