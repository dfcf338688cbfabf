"""Run a stored variant on tiles: pick how it executes, predict probabilities, time one tile.

Runtimes: `eager` runs the module as stored (for int8 that is the PT2E reference graph: int8
weights, float arithmetic, so it is correct but not fast); `onednn` lowers an int8 graph to
oneDNN int8 convolutions (float variants run eager); `compiled` uses `torch.compile` with
freezing for any variant. `auto` = `onednn`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish import quantize
from modelshrink.merfish.storage import INT8_VARIANTS, StoredModel

RUNTIMES = ("auto", "eager", "onednn", "compiled")
Runner = Callable[[torch.Tensor], torch.Tensor]


def make_runner(stored: StoredModel, runtime: str) -> tuple[Runner, dict[str, object]]:
    """A tile -> logits function and a description of how it runs (for the report)."""
    if runtime not in RUNTIMES:
        raise ModelshrinkError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    runtime = "onednn" if runtime == "auto" else runtime
    is_int8 = stored.variant in INT8_VARIANTS
    described: dict[str, object] = {"runtime": runtime}
    if runtime == "compiled":
        return quantize.compile_for_cpu(stored.module, stored.image_size), described
    if runtime == "onednn" and is_int8:
        lowered = quantize.lower_to_onednn(stored.module, stored.image_size)
        described["int8_convolutions"] = quantize.int8_conv_count(lowered)
        return lowered, described
    described["runtime"] = "eager"
    # An int8 graph is exported in eval mode already and refuses `.eval()`.
    return (stored.module if is_int8 else stored.module.eval()), described


@torch.no_grad()
def predict(run: Runner, images: torch.Tensor) -> np.ndarray:
    """Sigmoid probabilities (tiles, 17, H, W), one tile at a time as a deployment would."""
    return np.concatenate(
        [torch.sigmoid(run(images[i : i + 1])).numpy() for i in range(len(images))]
    )


@torch.no_grad()
def time_per_tile(run: Runner, tile: torch.Tensor, repeats: int, warmup: int = 3) -> dict:
    """Median wall time of `repeats` single-tile calls after `warmup` untimed ones."""
    if tile.ndim == 3:
        tile = tile.unsqueeze(0)
    for _ in range(warmup):
        run(tile)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        run(tile)
        times.append(time.perf_counter() - start)
    return {
        "median_seconds": statistics.median(times),
        "repeats": len(times),
        "threads": torch.get_num_threads(),
    }
