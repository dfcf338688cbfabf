"""Run a stored variant on tiles: pick how it executes, predict probabilities, time it.

Runtimes:
- `eager`: the module as stored; for int8 that is the PT2E reference graph (int8 weights,
  float arithmetic), correct but not fast.
- `onednn`: int8 variants lowered by `int8_lowering` (oneDNN int8 convolutions, fused glue
  kernels, channels-last); float variants run eager.
- `torchao`: int8 variants lowered by torchao's `lower_pt2e_quantized_to_x86` (the same
  oneDNN convolutions, ATen ops between them, re-exported for one batch size), kept so the
  bench can compare; float variants run eager.
- `compiled`: `torch.compile` with freezing, any variant (a minute or more to compile).
- `auto`: `onednn` for int8 on x86 CPUs (oneDNN picks AVX2, AVX-512, VNNI or AMX
  instructions itself), the reference graph elsewhere; float16 weights run in native
  float16 only where the CPU has float16 arithmetic (AVX512-FP16 / AMX-FP16), otherwise
  widened to float32, which is faster than emulated float16.

Timing runs a batch of tiles per call (`tiles_per_call`), as a whole field of view would
be processed: one 32 x 32 tile of the quarter-width demo network is a few milliseconds of
arithmetic, so single-tile calls time Python and dispatch overhead more than the kernels.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from modelshrink.cpu_features import CpuFeatures, detect
from modelshrink.errors import ModelshrinkError
from modelshrink.merfish import quantize
from modelshrink.merfish.int8_glue import Glue, best_glue
from modelshrink.merfish.int8_lowering import lower_int8
from modelshrink.merfish.storage import INT8_VARIANTS, StoredMerfishModel

RUNTIMES = ("auto", "eager", "onednn", "torchao", "compiled")
#: pixels per timed or predicted call: 64 tiles of 32 x 32, 16 of 64 x 64, 1 of 256 x 256
PIXELS_PER_CALL = 1 << 16
Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Execution:
    """A tile batch -> logits function and how it runs, for the report."""

    run: Runner
    runtime: str  # eager, onednn, torchao or compiled
    path: str  # what actually runs, in words (the summary's execution_path)
    int8_convolutions: int | None = None

    def described(self) -> dict[str, object]:
        return {
            "runtime": self.runtime,
            "execution_path": self.path,
            "int8_convolutions": self.int8_convolutions,
            "cpu": detect().describe(),
        }


def _float_path(stored: StoredMerfishModel, dtype: str, note: str = "") -> str:
    """What an eagerly run float variant computes with, and what its file stores."""
    stored_as = {
        "fp16": "stored float16",
        "pruned": "stored sparse, dense kernels",
        "dynamic_int8": (
            f"dynamic int8 converted {len(stored.info.get('converted_modules', []))} layers"
        ),
    }.get(stored.variant, "")
    notes = "; ".join(part for part in (stored_as, note) if part)
    return f"eager {dtype}" + (f" ({notes})" if notes else "")


def _eager_float(stored: StoredMerfishModel, cpu: CpuFeatures) -> Execution:
    module = stored.module.eval()
    if stored.variant != "fp16":
        return Execution(module, "eager", _float_path(stored, "float32"))
    if cpu.native_fp16:
        half = module.half()
        path = _float_path(stored, "float16", f"native on {cpu.describe()}")
        return Execution(lambda x: half(x.half()).float(), "eager", path)
    return Execution(module, "eager", _float_path(stored, "float32", "no native float16 here"))


def make_execution(
    stored: StoredMerfishModel,
    runtime: str,
    glue: Glue | None = None,
    cpu: CpuFeatures | None = None,
) -> Execution:
    """How `stored` runs with `runtime`; `glue` (default: the fastest available) and `cpu`
    (default: this machine's) are for tests and the bench."""
    if runtime not in RUNTIMES:
        raise ModelshrinkError(f"--runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    cpu = cpu or detect()
    is_int8 = stored.variant in INT8_VARIANTS
    if runtime == "auto":
        runtime = "onednn" if is_int8 and cpu.x86 else "eager"
    if runtime == "compiled":
        kind = "int8" if is_int8 else "float32"
        size = stored.image_size
        run = quantize.compile_for_cpu(stored.module, size, tiles_per_call(size))
        return Execution(run, "compiled", f"torch.compile inductor, freezing ({kind})")
    if not is_int8:
        return _eager_float(stored, cpu)
    if runtime == "onednn":
        glue = glue or best_glue()
        lowered = lower_int8(stored.module, glue)
        path = f"onednn int8 conv + {glue.name} glue, channels-last ({cpu.describe()})"
        return Execution(lowered, "onednn", path, quantize.int8_conv_count(lowered))
    if runtime == "torchao":
        lowered = quantize.lower_to_onednn(stored.module, stored.image_size)
        path = f"onednn int8 conv via torchao lowering + aten glue, 1 tile/call ({cpu.describe()})"

        def one_tile_per_call(x: torch.Tensor) -> torch.Tensor:  # exported for batch 1
            return torch.cat([lowered(x[i : i + 1]) for i in range(len(x))])

        return Execution(one_tile_per_call, "torchao", path, quantize.int8_conv_count(lowered))
    # An int8 graph is exported in eval mode already and refuses `.eval()`.
    return Execution(stored.module, "eager", "eager reference graph (int8 weights, float32 math)")


def tiles_per_call(image_size: int) -> int:
    return max(1, PIXELS_PER_CALL // (image_size * image_size))


@torch.no_grad()
def predict(run: Runner, images: torch.Tensor, batch: int | None = None) -> np.ndarray:
    """Sigmoid probabilities (tiles, 17, H, W), `batch` tiles per call (default: as timed)."""
    batch = batch or tiles_per_call(images.shape[-1])
    return np.concatenate(
        [torch.sigmoid(run(images[i : i + batch])).numpy() for i in range(0, len(images), batch)]
    )


@torch.no_grad()
def time_per_tile(
    run: Runner,
    images: torch.Tensor,
    repeats: int,
    reference: Runner | None = None,
    warmup: int = 2,
    batch: int | None = None,
) -> dict:
    """Median seconds per tile of `repeats` calls on one batch of `images`.

    With a `reference`, each round times both, in alternating order, so load from other
    processes on a shared machine hits them alike; `speedup` is the median of the per-round
    reference / variant ratios.
    """
    if images.ndim == 3:
        images = images.unsqueeze(0)
    tiles = images[: batch or tiles_per_call(images.shape[-1])]
    runners = {"variant": run} | ({"reference": reference} if reference else {})
    for function in runners.values():
        for _ in range(warmup):
            function(tiles)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for round_index in range(max(1, repeats)):
        order = list(runners.items())
        for name, function in order if round_index % 2 == 0 else reversed(order):
            start = time.perf_counter()
            function(tiles)
            seconds[name].append(time.perf_counter() - start)
    result = {
        "median_seconds": statistics.median(seconds["variant"]) / len(tiles),
        "repeats": len(seconds["variant"]),
        "tiles_per_call": len(tiles),
        "threads": torch.get_num_threads(),
    }
    if reference:
        pairs = zip(seconds["reference"], seconds["variant"], strict=True)
        result["reference_median_seconds"] = statistics.median(seconds["reference"]) / len(tiles)
        result["speedup"] = statistics.median(ref / own for ref, own in pairs)
    return result
