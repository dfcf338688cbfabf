"""torch's GRU equations for inference, evaluated faster than ATen's CPU kernel.

One time loop serves float32 and int8 weights: the caller supplies the input
projection and the recurrent weights, the loop does the rest. Four choices make it fast
on a CPU with hidden size 96, where element-wise work costs as much as the small
recurrent GEMM:

- the input projection runs as one GEMM per block of `BLOCK_ROWS` rows, large enough
  to be efficient and small enough to stay in cache (one GEMM over a whole chunk writes
  ~150 MB and spends most of its time in page faults);
- tanh(a) is computed as 2 sigmoid(2a) - 1 (torch's CPU tanh is ~5x slower than its
  sigmoid per element); the candidate rows of both products come pre-doubled
  (`candidate_scale`), which for int8 weights is just a doubled per-channel scale;
- the steps of a block run in compiled code (gru_steps.cpp, built with the machine's
  C++ compiler on first use: one GEMM per step and one fused element-wise pass), or in
  TorchScript where no compiler is found; either way no Python overhead per op, and the
  GIL stays free for the basecaller's other worker threads;
- each step writes its hidden state straight into the output, and Taiyaki's Reverse
  layers run the loop backwards in time instead of flipping copies.

How a block runs is the caller's `BlockSteps`: `projected_steps` (a GEMM, then the
steps) for float32 and int8 on `_int_mm`; the int8 AVX2 kernel fuses the projection
into its steps (compress/int8_gru.py, compress/int8_path.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple, Optional

import torch
from torch import nn

from modelshrink.basecaller.gru_extension import compiled_kernels

#: Rows (steps x batch) per input-projection GEMM: x 288 gates x 4 bytes = 4.7 MB.
BLOCK_ROWS = 4096


def candidate_scale(size: int) -> torch.Tensor:
    """Per-gate-row factor: 1 for the reset and update rows, 2 for the candidate rows."""
    scale = torch.ones(3 * size)
    scale[2 * size :] = 2
    return scale


def input_bias(bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> torch.Tensor:
    """The bias the input projection adds: torch's input bias plus the recurrent bias of
    the reset and update gates (which simply add); candidate rows doubled."""
    size = bias_hh.shape[0] // 3
    reset_update = torch.cat([bias_hh[: 2 * size], torch.zeros(size)])
    return (bias_ih.detach() + reset_update.detach()) * candidate_scale(size)


def candidate_bias(bias_hh: torch.Tensor) -> torch.Tensor | None:
    """The recurrent candidate bias (doubled), or None when it is zero as in Taiyaki."""
    size = bias_hh.shape[0] // 3
    bias = bias_hh.detach()[2 * size :] * 2
    return bias if bool(bias.any()) else None


def _recurrence_steps(
    gates_in: torch.Tensor,
    input_scale: Optional[torch.Tensor],  # noqa: UP045 - TorchScript needs Optional
    input_bias: Optional[torch.Tensor],  # noqa: UP045
    hidden: torch.Tensor,
    weight_hh: torch.Tensor,
    hidden_scale: torch.Tensor,
    bias_candidate: Optional[torch.Tensor],  # noqa: UP045 - TorchScript needs Optional
    output: torch.Tensor,
    reverse: bool,
) -> torch.Tensor:
    """The time steps of one block, compiled so no step pays Python's per-op overhead
    (and the GIL is free for other basecalling threads). int8 `weight_hh` means int8
    codes [H, 3H] whose products are scaled by `hidden_scale` per gate row."""
    size = hidden.shape[1]
    count = gates_in.shape[0]
    for k in range(count):
        t = count - 1 - k if reverse else k
        gates = gates_in[t]
        if input_scale is not None and input_bias is not None:
            gates = torch.addcmul(input_bias, gates, input_scale)
        if weight_hh.dtype == torch.int8:
            codes = torch.round(hidden * 127.0).to(torch.int8)  # |hidden| <= 1 always
            gates_hidden = torch._int_mm(codes, weight_hh).to(torch.float32).mul_(hidden_scale)
        else:
            gates_hidden = torch.mm(hidden, weight_hh)
        reset_update = torch.sigmoid(gates[:, : 2 * size] + gates_hidden[:, : 2 * size])
        candidate_hidden = gates_hidden[:, 2 * size :]
        if bias_candidate is not None:
            candidate_hidden = candidate_hidden + bias_candidate
        doubled = torch.addcmul(gates[:, 2 * size :], reset_update[:, :size], candidate_hidden)
        candidate = torch.sigmoid(doubled).mul_(2.0).sub_(1.0)
        hidden = torch.addcmul(candidate, reset_update[:, size:], hidden - candidate, out=output[t])
    return hidden


with warnings.catch_warnings():  # deprecated in favour of torch.compile, still the
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated")
    _recurrence = torch.jit.script(_recurrence_steps)  # way to loop without Python


class InputGates(NamedTuple):
    """Input-gate pre-activations of a block: float32 with the bias included, or int32
    products whose gate pre-activation is values * scale + bias (scale, bias: [3H])."""

    values: torch.Tensor
    scale: torch.Tensor | None = None
    bias: torch.Tensor | None = None


class GruKernels(NamedTuple):
    """The fastest available implementations: `steps` runs one block's time steps,
    `quantize(x)` returns symmetric int8 codes of x and their scale max|x| / 127."""

    steps: Callable[..., torch.Tensor]
    quantize: Callable[[torch.Tensor], tuple[torch.Tensor, float]]


def quantize_symmetric(values: torch.Tensor) -> tuple[torch.Tensor, float]:
    step = float(values.abs().amax()) / 127 if values.numel() else 0.0
    step = step if step > 0 else 1.0
    return torch.round(values / step).to(torch.int8), step


def gru_kernels(device: torch.device, compiled: bool = True) -> GruKernels:
    """The compiled kernels for CPU tensors where they build (unless `compiled` is
    False); TorchScript otherwise (any device)."""
    module = compiled_kernels() if compiled and device.type == "cpu" else None
    if module is None:
        return GruKernels(_recurrence, quantize_symmetric)
    return GruKernels(module.gru_steps, module.quantize_symmetric)


def block_length(batch: int) -> int:
    """Time steps per input-projection block for this batch size."""
    return max(1, BLOCK_ROWS // batch)


#: Runs one block's steps: (inputs [count, B, insize], hidden [B, H], output [count, B, H]
#: to fill, reverse) -> the state after the block's last step.
BlockSteps = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]


def projected_steps(
    input_gates: Callable[[torch.Tensor], InputGates],
    weight_hh: torch.Tensor,
    bias_candidate: torch.Tensor | None,
    hidden_scale: torch.Tensor,
    kernels: GruKernels,
) -> BlockSteps:
    """Block steps as one input-projection GEMM (`input_gates(inputs [n, insize])`, with
    `input_bias` included) followed by the kernels' time steps; `weight_hh` is [H, 3H],
    float32 or int8 codes scaled per gate by `hidden_scale`, `bias_candidate` is
    `candidate_bias`."""

    def run(
        inputs: torch.Tensor, hidden: torch.Tensor, output: torch.Tensor, reverse: bool
    ) -> torch.Tensor:
        count, batch, insize = inputs.shape
        gates_in = input_gates(inputs.reshape(count * batch, insize))
        return kernels.steps(
            gates_in.values.view(count, batch, -1),
            gates_in.scale,
            gates_in.bias,
            hidden,
            weight_hh,
            hidden_scale,
            bias_candidate,
            output,
            reverse,
        )

    return run


def gru_sequence(
    x: torch.Tensor, size: int, block_steps: BlockSteps, reverse: bool = False
) -> torch.Tensor:
    """Output sequence [T, B, H] of a single-layer GRU of hidden size `size` started from
    zeros, in blocks of `block_length` steps (backwards in time if `reverse`). Gates are in
    torch's (reset, update, candidate) order with the candidate rows doubled."""
    steps, batch, _ = x.shape
    output = x.new_empty(steps, batch, size)
    hidden = x.new_zeros(batch, size)
    length = block_length(batch)
    for block_start in range(0, steps, length):
        count = min(length, steps - block_start)
        first = steps - block_start - count if reverse else block_start
        block = slice(first, first + count)
        hidden = block_steps(x[block], hidden, output[block], reverse)
    return output


def float_gru_inference(x: torch.Tensor, gru: nn.GRU, reverse: bool = False) -> torch.Tensor:
    """nn.GRU's output sequence (to ~1e-6), computed by `gru_sequence` in float32."""
    scale = candidate_scale(gru.hidden_size)
    weight_ih = (gru.weight_ih_l0 * scale[:, None]).t().contiguous()
    weight_hh = (gru.weight_hh_l0 * scale[:, None]).t().contiguous()
    bias = input_bias(gru.bias_ih_l0, gru.bias_hh_l0)
    # one buffer for every block's gates: a fresh 4.7 MB per block costs page faults
    rows = min(x.shape[0], block_length(x.shape[1])) * x.shape[1]
    gates = x.new_empty(rows, 3 * gru.hidden_size)

    def input_gates(inputs: torch.Tensor) -> InputGates:
        return InputGates(torch.addmm(bias, inputs, weight_ih, out=gates[: inputs.shape[0]]))

    steps = projected_steps(
        input_gates,
        weight_hh,
        candidate_bias(gru.bias_hh_l0),
        torch.ones(3 * gru.hidden_size),
        gru_kernels(x.device),
    )
    return gru_sequence(x, gru.hidden_size, steps, reverse)
