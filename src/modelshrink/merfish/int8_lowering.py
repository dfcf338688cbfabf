"""Run a converted PT2E int8 graph on oneDNN int8 convolutions with fused glue, channels-last.

The converted graph computes in float: quantize -> dequantize around every float conv. Here
each conv becomes `onednn.qconv_pointwise` on uint8 codes with prepacked int8 weights, and
the element-wise work feeding it (ELU, reflect padding, quantization) becomes one `Glue`
call that writes the codes channels-last, the layout oneDNN's int8 kernels read directly.
For QAT graphs, which also quantize conv outputs, the conv writes those uint8 codes itself
and dequantize -> ELU -> quantize becomes a 256-entry table computed with the graph's own
ops (exact). The float results between convs (max-pool, upsampling, concatenation inputs)
stay float32 as in the converted graph.

Unlike torchao's `lower_pt2e_quantized_to_x86` this rewrites the graph in place of
re-exporting it: a few seconds instead of a minute on two busy cores, and the result takes
any batch size.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch.fx import GraphModule, Node

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.int8_glue import Glue
from modelshrink.merfish.storage import (  # the int8 graph's layout, as storage reads it
    _DEQUANTIZE,
    _QUANTIZE,
    _constant,
    _Convolution,
    _convolutions,
)

_ELU = "aten.elu.default"
_PAD = "aten.pad.default"
_QCONV = torch.ops.onednn.qconv_pointwise.default
_CODES = torch.arange(256, dtype=torch.uint8)


def _target(node: Any) -> str:
    return str(getattr(node, "target", "")) if isinstance(node, Node) else ""


def _elu_with_default_alpha(node: Any) -> bool:
    return _target(node) == _ELU and tuple(node.args[1:]) in ((), (1.0,))


def _reflect_pad_one(node: Any) -> bool:
    return (
        _target(node) == _PAD
        and list(node.args[1]) == [1, 1, 1, 1]
        and (node.args[2:] == ("reflect",) or node.kwargs.get("mode") == "reflect")
    )


class _Lowering:
    """The rewrites, applied to a copy of the graph; new constants (prepacked weights,
    tables) become attributes `_lowered_constant_{k}` of the module."""

    def __init__(self, graph_module: GraphModule, glue: Glue) -> None:
        self.module, self.graph, self.glue = graph_module, graph_module.graph, glue
        self.codes: dict[Node, Node] = {}  # quantize node -> node giving its padded codes
        self.uint8_convs: dict[Node, tuple[float, int]] = {}  # qconv -> output qparams
        self.constants = 0

    def _constant_node(self, value: torch.Tensor) -> Node:
        name = f"_lowered_constant_{self.constants}"
        self.constants += 1
        self.module.register_buffer(name, value, persistent=False)
        return self.graph.get_attr(name)

    def _table(
        self, qparams: tuple[float, int], elu: bool, requantize: tuple[float, int] | None
    ) -> Node:
        """What the graph computes from each uint8 code with `qparams`: dequantize,
        optionally ELU, optionally quantize again; with the graph's own ops, so exact."""
        scale, zero_point = qparams
        values = torch.ops.quantized_decomposed.dequantize_per_tensor.default(
            _CODES, scale, zero_point, 0, 255, torch.uint8
        )
        if elu:
            values = torch.nn.functional.elu(values)
        if requantize is not None:
            values = torch.ops.quantized_decomposed.quantize_per_tensor.default(
                values, *requantize, 0, 255, torch.uint8
            )
        return self._constant_node(values.contiguous())

    def _uint8_source(self, node: Any) -> Node | None:
        """The uint8 conv whose codes `node` dequantizes, if it is such a dequantize."""
        if _target(node) == _DEQUANTIZE and node.args[0] in self.uint8_convs:
            return node.args[0]
        return None

    def codes_for(self, quantize: Node) -> Node:
        """A node giving the uint8 codes `quantize` computes, padded and channels-last."""
        if quantize in self.codes:
            return self.codes[quantize]
        source, pad = quantize.args[0], 0
        if _reflect_pad_one(source):
            source, pad = source.args[0], 1
        qparams = (float(quantize.args[1]), int(quantize.args[2]))
        elu = _elu_with_default_alpha(source) and len(source.users) == 1
        if elu and self._uint8_source(source.args[0]) is not None:
            conv = self._uint8_source(source.args[0])
            table = self._table(self.uint8_convs[conv], elu=True, requantize=qparams)
            codes = self.graph.call_function(self.glue.lookup_pad, (conv, table, pad))
        elif elu:
            args = (source.args[0], *qparams, True, pad)
            codes = self.graph.call_function(self.glue.quantize_pad, args)
        else:
            codes = self.graph.call_function(self.glue.quantize_pad, (source, *qparams, False, pad))
        self.codes[quantize] = codes
        return codes

    def lower_conv(self, conv: _Convolution) -> None:
        node = conv.node
        dequantized = node.args[0]
        quantize = dequantized.args[0] if _target(dequantized) == _DEQUANTIZE else None
        if _target(quantize) != _QUANTIZE:
            raise ModelshrinkError(
                f"int8 lowering: convolution {node.name} does not read quantized activations"
            )
        stride, padding, dilation, groups = (
            list(node.args[3]) if len(node.args) > 3 else [1, 1],
            list(node.args[4]) if len(node.args) > 4 else [0, 0],
            list(node.args[5]) if len(node.args) > 5 else [1, 1],
            int(node.args[6]) if len(node.args) > 6 else 1,
        )
        x_scale, x_zero_point = float(quantize.args[1]), int(quantize.args[2])
        weight_node = node.args[1]
        packed = torch.ops.onednn.qconv_prepack(
            _constant(self.module, conv.weight),
            _constant(self.module, conv.scale),
            x_scale,
            x_zero_point,
            stride,
            padding,
            dilation,
            groups,
            None,
        )
        users = list(node.users)
        quantized_output = len(users) == 1 and _target(users[0]) == _QUANTIZE
        output = (float(users[0].args[1]), int(users[0].args[2])) if quantized_output else None
        with self.graph.inserting_before(node):
            codes = self.codes_for(quantize)
            qconv = self.graph.call_function(
                _QCONV,
                (
                    codes,
                    x_scale,
                    x_zero_point,
                    self._constant_node(packed),
                    weight_node.args[1],
                    weight_node.args[2],
                    node.args[2],
                    stride,
                    padding,
                    dilation,
                    groups,
                    *(output or (1.0, 0)),
                    torch.uint8 if output else torch.float32,
                    "none",
                    [],
                    "",
                ),
            )
        if output:
            self.uint8_convs[qconv] = output
            users[0].replace_all_uses_with(qconv)
        else:
            node.replace_all_uses_with(qconv)

    def float_values_of_uint8_convs(self) -> None:
        """Dequantize (-> ELU) of a QAT conv's codes read by float ops: one table lookup."""
        for node in list(self.graph.nodes):
            conv = self._uint8_source(node)
            if conv is None or not node.users:
                continue
            users = list(node.users)
            elu = len(users) == 1 and _elu_with_default_alpha(users[0])
            replaced = users[0] if elu else node
            with self.graph.inserting_before(replaced):
                table = self._table(self.uint8_convs[conv], elu=elu, requantize=None)
                values = self.graph.call_function(self.glue.lookup_pad, (conv, table, 0))
            replaced.replace_all_uses_with(values)

    def remaining_round_trips(self) -> None:
        """quantize -> dequantize that no convolution reads (the output concatenation's):
        uint8 codes, then their float values by table."""
        for node in list(self.graph.nodes):
            quantize = node.args[0] if _target(node) == _DEQUANTIZE else None
            if _target(quantize) != _QUANTIZE:
                continue
            qparams = (float(quantize.args[1]), int(quantize.args[2]))
            with self.graph.inserting_before(node):
                codes = self.graph.call_function(
                    self.glue.quantize_pad, (quantize.args[0], *qparams, False, 0)
                )
                table = self._table(qparams, elu=False, requantize=None)
                values = self.graph.call_function(self.glue.lookup_pad, (codes, table, 0))
            node.replace_all_uses_with(values)


def lower_int8(converted: GraphModule, glue: Glue) -> GraphModule:
    """A copy of `converted` whose convolutions run oneDNN int8 kernels (see module doc)."""
    with warnings.catch_warnings():  # torch's pytree deprecation notes while copying
        warnings.simplefilter("ignore", FutureWarning)
        graph_module = copy.deepcopy(converted)
    lowering = _Lowering(graph_module, glue)
    convolutions = _convolutions(graph_module, "int8 lowering")
    for conv in convolutions:
        lowering.lower_conv(conv)
    lowering.float_values_of_uint8_convs()
    lowering.remaining_round_trips()
    graph = graph_module.graph
    output = next(node for node in graph.nodes if node.op == "output")
    for result in output.all_input_nodes:  # logits in the usual layout for the caller
        with graph.inserting_before(output):
            contiguous = graph.call_method("contiguous", (result,))
        output.replace_input_with(result, contiguous)
    graph.eliminate_dead_code()
    float_graph_ops = (_QUANTIZE, _DEQUANTIZE, "aten.conv2d.default")
    left = [node.name for node in graph.nodes if _target(node) in float_graph_ops]
    if left:
        raise ModelshrinkError(
            f"int8 lowering: {len(left)} float-graph quantization ops left ({', '.join(left[:3])}"
            "...); expected a graph converted by the PT2E x86 flow"
        )
    for conv in convolutions:  # the int8 codes now live in the prepacked weights
        owner, _, attribute = conv.weight.rpartition(".")
        delattr(graph_module.get_submodule(owner) if owner else graph_module, attribute)
    graph.lint()
    graph_module.recompile()
    return graph_module
