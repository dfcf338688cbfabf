"""A GRU whose matrix products run in int8: exact int8 x int8 -> int32 GEMMs.

PyTorch's dynamic int8 GRU (`torch.ao.nn.quantized.dynamic.GRU`) is only ~1.25x faster
than float32 at Taiyaki's hidden size of 96: it quantizes the hidden state with a
min/max pass every step and keeps ATen's slow element-wise GRU cell. Here the same
int8 weights run inside `gru_sequence`, the float loop's time stepping, with:

- weights: per-channel symmetric int8, scale max|w_c| / 127, codes in [-127, 127]
  (what `dynamic_int8.STORED_CONFIG` stores, so the stored codes are the codes that run);
  a file stored with narrower codes (7 bits: max|w_c| / 63) runs those codes as they are;
- inputs: per-tensor symmetric int8 with a dynamic scale, one per block of time steps;
- the hidden state: int8 with the fixed scale 1/127. A GRU's state is a convex
  combination of tanh outputs and the previous state, so it never leaves [-1, 1]; the
  fixed scale is the one a dynamic min/max would pick, without the per-step pass.

The GEMMs run on the kernel `int8_path` picks for the CPU: `torch._int_mm` (fast with
VNNI), or modelshrink's AVX2 kernel in gru_steps.cpp, which also fuses the input
projection into the time steps. Both form the same int32 products from the same codes.
"""

from __future__ import annotations

import torch
from torch import nn

from modelshrink.basecaller.compress.int8_path import AVX2, TORCHSCRIPT, int8_gru_path
from modelshrink.basecaller.gru_extension import compiled_kernels
from modelshrink.basecaller.gru_kernel import (
    BlockSteps,
    InputGates,
    candidate_bias,
    candidate_scale,
    gru_kernels,
    gru_sequence,
    input_bias,
    projected_steps,
)
from modelshrink.errors import ModelshrinkError

INT8_MAX = 127
#: Columns per block of the AVX2 kernel's packed weights (one ymm register of int32 sums).
PACKED_LANES = 8


def per_channel_codes(weight: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 codes and float32 scales (one per output row) of a weight matrix, codes in
    [-(2^(bits-1) - 1), 2^(bits-1) - 1]: narrower codes still run as int8, unchanged."""
    largest = 2 ** (bits - 1) - 1
    scale = weight.detach().abs().amax(dim=1) / largest
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)
    codes = (weight.detach() / safe[:, None]).round().clamp(-largest, largest)
    return codes.to(torch.int8), scale


def pack_pairs(codes: torch.Tensor) -> torch.Tensor:
    """Codes [K, N] as the AVX2 kernel reads them: int16 [N/8, K/2, 8, 2], i.e. per block
    of 8 columns and pair of rows k, k + 1, each column's two codes side by side (zero
    padded to whole blocks and pairs), so one 32-byte load feeds one vpmaddwd."""
    rows, columns = codes.shape
    padded = torch.zeros(
        rows + rows % 2, -(-columns // PACKED_LANES) * PACKED_LANES, dtype=torch.int16
    )
    padded[:rows, :columns] = codes
    pairs = padded.view(padded.shape[0] // 2, 2, -1, PACKED_LANES)
    return pairs.permute(2, 0, 3, 1).contiguous()


class Int8GRU(nn.Module):
    """A single-layer, unidirectional, time-major nn.GRU with int8 matrix products."""

    def __init__(self, gru: nn.GRU, weight_bits: int = 8) -> None:
        super().__init__()
        if gru.num_layers != 1 or gru.bidirectional or gru.batch_first or not gru.bias:
            raise ModelshrinkError(
                "int8 GRU execution supports single-layer, unidirectional, time-major GRUs "
                f"with biases; got {gru}"
            )
        self.input_size, self.hidden_size = gru.input_size, gru.hidden_size
        doubling = candidate_scale(gru.hidden_size)
        ih_codes, ih_scale = per_channel_codes(gru.weight_ih_l0, weight_bits)
        hh_codes, hh_scale = per_channel_codes(gru.weight_hh_l0, weight_bits)
        # [in, 3H] layouts for activation @ codes; gate scales carry the candidate doubling
        self.register_buffer("weight_ih_codes", ih_codes.t().contiguous())
        self.register_buffer("weight_hh_codes", hh_codes.t().contiguous())
        # the same codes laid out once for the AVX2 kernel (not saved: derived)
        self.register_buffer("weight_ih_packed", pack_pairs(ih_codes.t()), persistent=False)
        self.register_buffer("weight_hh_packed", pack_pairs(hh_codes.t()), persistent=False)
        self.register_buffer("input_gate_scale", ih_scale * doubling)
        self.register_buffer("hidden_gate_scale", hh_scale * doubling / INT8_MAX)
        self.register_buffer("bias_ih", input_bias(gru.bias_ih_l0, gru.bias_hh_l0))
        self.bias_candidate = candidate_bias(gru.bias_hh_l0)

    def execution_path(self, device: torch.device, path: str | None = None) -> str:
        """The int8 kernel that runs on `device` (see int8_path)."""
        return int8_gru_path(device, path)

    def _block_steps(self, path: str) -> BlockSteps:
        if path == AVX2:
            avx2_steps = compiled_kernels().avx2_int8_steps

            def run(
                inputs: torch.Tensor, hidden: torch.Tensor, output: torch.Tensor, reverse: bool
            ) -> torch.Tensor:
                return avx2_steps(
                    inputs,
                    self.weight_ih_packed,
                    self.input_gate_scale,
                    self.bias_ih,
                    hidden,
                    self.weight_hh_packed,
                    self.hidden_gate_scale,
                    self.bias_candidate,
                    output,
                    reverse,
                )

            return run
        kernels = gru_kernels(self.weight_hh_codes.device, compiled=path != TORCHSCRIPT)

        def input_gates(inputs: torch.Tensor) -> InputGates:
            """int32 products of the block's codes; the kernel scales them while applying
            the gates."""
            codes, step = kernels.quantize(inputs)
            products = torch._int_mm(codes, self.weight_ih_codes)
            return InputGates(products, self.input_gate_scale * step, self.bias_ih)

        return projected_steps(
            input_gates, self.weight_hh_codes, self.bias_candidate, self.hidden_gate_scale, kernels
        )

    def sequence(
        self, x: torch.Tensor, reverse: bool = False, path: str | None = None
    ) -> torch.Tensor:
        """Output sequence [T, B, H] from a zero state, running backwards if `reverse`;
        `path` forces an int8 kernel (int8_path.PATHS), by default the fastest here."""
        steps = self._block_steps(self.execution_path(x.device, path))
        return gru_sequence(x, self.hidden_size, steps, reverse)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """nn.GRU's calling convention (no initial state): (output, final state)."""
        output = self.sequence(x)
        return output, output[-1:]
