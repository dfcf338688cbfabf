"""The converted network computes exactly what Taiyaki's layers compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from modelshrink.basecaller.checkpoint import load_taiyaki_checkpoint
from modelshrink.basecaller.model_file import convert_checkpoint, load_basecaller
from modelshrink.basecaller.signal.fast5 import iter_fast5
from modelshrink.basecaller.signal.reads import med_mad_normalise


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _reference_gru(x: np.ndarray, w_ih, w_hh, b_ih, b_hh) -> np.ndarray:
    """GRU from its equations (torch/cuDNN gate order r, z, n; reset applied after W_hn h)."""
    hidden = np.zeros(w_hh.shape[1])
    outputs = []
    for x_t in x:
        gi, gh = w_ih @ x_t + b_ih, w_hh @ hidden + b_hh
        size = hidden.size
        r = _sigmoid(gi[:size] + gh[:size])
        z = _sigmoid(gi[size : 2 * size] + gh[size : 2 * size])
        n = np.tanh(gi[2 * size :] + r * gh[2 * size :])
        hidden = (1 - z) * n + z * hidden
        outputs.append(hidden)
    return np.array(outputs)


def _reference_forward(signal: np.ndarray, t: dict[str, np.ndarray]) -> np.ndarray:
    """Taiyaki's layer stack written out in float64 numpy, independent of torch modules."""
    padded = np.concatenate([np.zeros(9), signal, np.zeros(9)])
    weight, bias = t["sublayers.0.conv.weight"][:, 0, :], t["sublayers.0.conv.bias"]
    steps = (len(padded) - 19) // 4 + 1
    windows = np.stack([padded[4 * i : 4 * i + 19] for i in range(steps)])
    x = np.tanh(windows @ weight.T + bias)
    for index in range(1, 6):
        prefix = (
            f"sublayers.{index}.layer.cudnn_gru." if index % 2 else f"sublayers.{index}.cudnn_gru."
        )
        params = [
            t[prefix + n] for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        ]
        x = _reference_gru(x[::-1], *params)[::-1] if index % 2 else _reference_gru(x, *params)
    return 5.0 * np.tanh(x @ t["sublayers.6.linear.weight"].T + t["sublayers.6.linear.bias"])


def test_converted_model_matches_reference_on_real_signal(
    tmp_path: Path, shared_data: Path, taiyaki_checkpoint: Path
) -> None:
    converted = tmp_path / "original.safetensors"
    convert_checkpoint(taiyaki_checkpoint, converted)
    network = load_basecaller(converted)
    _, tensors = load_taiyaki_checkpoint(taiyaki_checkpoint)

    read = next(iter_fast5(next((shared_data / "taiyaki" / "reads").glob("*.fast5"))))
    signal = med_mad_normalise(read.picoamps())[:2000]
    with torch.inference_mode():
        ours = network(torch.from_numpy(signal)[:, None, None])[:, 0].numpy()
    reference = _reference_forward(
        signal.astype(np.float64), {k: v.double().numpy() for k, v in tensors.items()}
    )
    assert ours.shape == (500, 40)
    assert np.abs(ours - reference).max() < 1e-4
    # The pickled checkpoint and the converted file give the same network output.
    pickled = load_basecaller(taiyaki_checkpoint)
    with torch.inference_mode():
        direct = pickled(torch.from_numpy(signal)[:, None, None])[:, 0].numpy()
    assert np.abs(ours - direct).max() < 1e-5
