"""X X^T of each weight matrix's inputs on calibration signal, for OBS pruning and GPTQ.

Both methods change a weight matrix W while keeping W x what it was on real signal; the
error of a change dW is then tr(dW H dW^T) with H = X X^T over the calibration inputs.
A bias is a weight on a constant input 1, so its column is appended where the layer has
one: the methods then move the bias to absorb the mean shift of a row's outputs.
H is damped by 1 % of its mean diagonal, as in SparseGPT and GPTQ, so inputs that are
rarely excited do not make the solves unstable.
"""

from __future__ import annotations

import torch

DAMPING = 0.01


def damped(hessian: torch.Tensor) -> torch.Tensor:
    """H + DAMPING * mean(diag H) * I, in float64."""
    hessian = hessian.to(torch.float64)
    return hessian + DAMPING * hessian.diagonal().mean() * torch.eye(
        len(hessian), dtype=torch.float64
    )


def _gram_with_one(rows: torch.Tensor) -> torch.Tensor:
    """X X^T of [N, features] rows with a constant 1 appended (the bias's input)."""
    rows = torch.cat([rows, rows.new_ones(len(rows), 1)], 1).to(torch.float64)
    return rows.T @ rows


def conv_hessian(
    inputs: torch.Tensor, padding: tuple[int, int], winlen: int, stride: int
) -> torch.Tensor:
    """H of a 1-D convolution's windows: `inputs` [steps, batch, channels] as the
    network passes them; columns in the order of weight [out, channels, winlen]
    flattened, then the bias."""
    padded = torch.nn.functional.pad(inputs.permute(1, 2, 0), padding)
    windows = padded.unfold(2, winlen, stride)  # [batch, channels, steps, winlen]
    rows = windows.permute(0, 2, 1, 3).reshape(-1, inputs.shape[2] * winlen)
    return _gram_with_one(rows)


def linear_hessian(inputs: torch.Tensor) -> torch.Tensor:
    """H of a linear layer's inputs [steps, batch, features], then the bias."""
    return _gram_with_one(inputs.reshape(-1, inputs.shape[-1]))


def gru_hessians(
    inputs: torch.Tensor, outputs: torch.Tensor, reverse: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """H of a GRU's input matrix (its inputs, then the input bias) and of its recurrent
    matrix (the state before each step, in the GRU's own direction)."""
    previous = torch.zeros_like(outputs)
    if reverse:
        previous[:-1] = outputs[1:]
    else:
        previous[1:] = outputs[:-1]
    previous = previous.reshape(-1, outputs.shape[-1]).to(torch.float64)
    return linear_hessian(inputs), previous.T @ previous
