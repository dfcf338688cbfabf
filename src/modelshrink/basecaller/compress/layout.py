"""Which tensors belong to which layer, read from the stored architecture dict.

Structured pruning and cost accounting both need to walk the network layer by layer
(sizes, strides, the parameter names of each layer) without building torch modules;
this is the one place that maps the architecture dict (`taiyaki.network.Architecture`'s
`to_dict()`) onto Taiyaki's parameter names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import FROZEN_SUFFIX

#: The module of a GRU layer's tensors and its two weight matrices (input, recurrent).
GRU_MODULE = "cudnn_gru"
GRU_WEIGHTS = ("weight_ih_l0", "weight_hh_l0")


@dataclass(frozen=True)
class LayerLayout:
    """One layer: its kind, where its tensors live, and its sizes.

    kind is "conv", "gru" or "linear"; `prefix` is the module path its parameters hang
    from (e.g. `sublayers.1.layer.cudnn_gru`), `insize`/`size` its input and output
    features; `winlen`/`stride` are 1 except for convolutions.
    """

    index: int
    kind: str
    prefix: str
    insize: int
    size: int
    winlen: int = 1
    stride: int = 1

    @property
    def weights(self) -> tuple[str, ...]:
        """Parameter names whose multiply-accumulates run every step (no biases)."""
        if self.kind == "gru":
            return tuple(f"{self.prefix}.{weight}" for weight in GRU_WEIGHTS)
        return (f"{self.prefix}.weight",)

    @property
    def biases(self) -> tuple[str, ...]:
        if self.kind == "gru":
            return (f"{self.prefix}.bias_ih_l0", f"{self.prefix}.{FROZEN_SUFFIX}")
        return (f"{self.prefix}.bias",)

    @property
    def parameters(self) -> tuple[str, ...]:
        """Weights then biases: the order of the layer's state-dict entries."""
        return (*self.weights, *self.biases)


def _one_layer(index: int, config: Mapping[str, Any], prefix: str) -> LayerLayout:
    layer_type = config.get("type")
    try:
        if layer_type == "reverse":
            return _one_layer(index, config["layer"], f"{prefix}.layer")
        if layer_type == "convolution":
            return LayerLayout(
                index,
                "conv",
                f"{prefix}.conv",
                int(config["insize"]),
                int(config["size"]),
                winlen=int(config["winlen"]),
                stride=int(config["stride"]),
            )
        if layer_type == "gru":
            return LayerLayout(
                index, "gru", f"{prefix}.{GRU_MODULE}", int(config["insize"]), int(config["size"])
            )
        if layer_type == "global_norm_flipflop":
            size = 2 * int(config["nbase"]) * (int(config["nbase"]) + 1)
            return LayerLayout(index, "linear", f"{prefix}.linear", int(config["insize"]), size)
    except KeyError as error:
        raise ModelshrinkError(
            f"architecture layer {index} ({layer_type}) lacks the key {error.args[0]!r}"
        ) from error
    raise ModelshrinkError(
        f"architecture layer {index} has type {layer_type!r}; expected convolution, gru, "
        f"reverse or global_norm_flipflop"
    )


def network_layout(architecture: Mapping[str, Any]) -> list[LayerLayout]:
    """The layers of a stored architecture, in order."""
    layers = architecture.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ModelshrinkError("architecture: expected a non-empty 'layers' list")
    return [_one_layer(i, config, f"sublayers.{i}") for i, config in enumerate(layers)]


def parameter_names(architecture: Mapping[str, Any]) -> list[str]:
    """Every parameter of a stored architecture, in state-dict order."""
    return [name for layer in network_layout(architecture) for name in layer.parameters]


def _taiyaki_r941_architecture() -> dict[str, Any]:
    """The layer sizes of Taiyaki's pretrained R9.4.1 flip-flop GRU (docs/TAIYAKI_FACTS.md)."""
    gru = {"type": "gru", "insize": 96, "size": 96}
    conv = {"type": "convolution", "insize": 1, "size": 96, "winlen": 19, "stride": 4}
    output = {"type": "global_norm_flipflop", "insize": 96, "nbase": 4}
    reverse = {"type": "reverse", "layer": gru}
    return {"layers": [conv, reverse, gru, reverse, gru, reverse, output]}


#: The sha256 of Taiyaki's pretrained R9.4.1 checkpoint, whose parameter names are
#: known before conversion (config model.sha256 of the demo).
PRETRAINED_SHA256 = "17fc93596096d495de19102e0b1929e11bf92482b3faa34bdc8f1d32cf7cee6f"
#: The parameter names of Taiyaki's R9.4.1 model, for checking variant specs at
#: workflow start without opening (or importing torch to open) the model file.
TAIYAKI_PARAMETER_NAMES: tuple[str, ...] = tuple(parameter_names(_taiyaki_r941_architecture()))


def is_gru_weight(name: str) -> bool:
    """True for a GRU's input or recurrent weight matrix (what OBS pruning can prune)."""
    return name.endswith(tuple(f"{GRU_MODULE}.{weight}" for weight in GRU_WEIGHTS))
