"""Quantized variants of the anglerFISH U-Net: fp16, dynamic int8, static int8 and QAT.

Static int8 and QAT use torchao's PT2E flow (`torch.export` -> `X86InductorQuantizer` ->
`prepare_pt2e` / `prepare_qat_pt2e` -> `convert_pt2e`): eager-mode static quantization needs
hand-placed QuantStub/DeQuantStub and `FloatFunctional` for every `torch.cat` of a U-Net skip,
and trips on them; PT2E works on the exported graph instead. `prepare_pt2e` folds each batch
norm into its conv, weights become per-channel symmetric int8, activations per-tensor uint8.

The converted graph is a *reference* model (int8 weights, but quantize/dequantize around float
convs). It runs int8 kernels only after lowering: `int8_lowering.lower_int8` (what the
workflow uses) rewrites it into oneDNN `qconv_pointwise` calls with fused glue kernels;
`lower_to_onednn` is torchao's lowering (re-exported for one batch size, ATen glue), kept for
comparison; `compile_for_cpu` goes through `torch.compile` with freezing, which also fuses
the quantize/dequantize and ELU glue but takes minutes to compile.

Dynamic int8 (`torch.ao.quantization.quantize_dynamic`) only covers Linear/RNN modules; the
U-Net has none, so it converts nothing. `quantize_dynamic_int8` reports the converted module
names (an empty list here) instead of pretending.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import nn

from modelshrink.errors import ModelshrinkError
from modelshrink.merfish.spec import ROUNDS

_CHANNELS_IN = 2 * ROUNDS
_ONEDNN_QCONV = "onednn.qconv_pointwise.default"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """PT2E warns for every op it leaves in float (max-pool, ELU); those are expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def example_input(image_size: int, batch: int = 1) -> torch.Tensor:
    """A fixed input for export and tracing; the values never matter, the shape does."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, _CHANNELS_IN, image_size, image_size, generator=generator)


def export_graph(model: nn.Module, image_size: int) -> torch.fx.GraphModule:
    """Export with a dynamic batch dimension so QAT can train on batches and eval on one tile."""
    batch = torch.export.Dim("batch", min=1, max=65536)
    with _quiet():
        exported = torch.export.export(
            model, (example_input(image_size, batch=2),), dynamic_shapes=({0: batch},)
        )
    return exported.module()


def x86_quantizer(is_qat: bool) -> object:
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    quantizer = x86.X86InductorQuantizer()
    quantizer.set_global(x86.get_default_x86_inductor_quantization_config(is_qat=is_qat))
    return quantizer


def quantize_static(
    model: nn.Module, calibration: torch.Tensor, batch_size: int = 8
) -> torch.fx.GraphModule:
    """Post-training int8: observe activations on `calibration` tiles (N, 16, H, W), convert."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if calibration.ndim != 4 or calibration.shape[1] != _CHANNELS_IN or not len(calibration):
        raise ModelshrinkError(
            f"calibration tiles: expected (N>0, {_CHANNELS_IN}, H, W), "
            f"got {tuple(calibration.shape)}"
        )
    model = copy.deepcopy(model).eval()
    with _quiet():
        prepared = prepare_pt2e(
            export_graph(model, calibration.shape[-1]), x86_quantizer(is_qat=False)
        )
        with torch.no_grad():
            for start in range(0, len(calibration), batch_size):
                prepared(calibration[start : start + batch_size])
        return convert_pt2e(prepared)


def prepare_qat(model: nn.Module, image_size: int) -> torch.fx.GraphModule:
    """Fake-quantized training graph; `.train()` / `.eval()` switch batch norm like a module."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    training_copy = copy.deepcopy(model).train()  # leave the caller's model in its mode
    with _quiet():
        prepared = prepare_qat_pt2e(export_graph(training_copy, image_size), x86_quantizer(True))
    allow_exported_model_train_eval(prepared)
    return prepared


def convert_qat(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Fold the trained batch norms and turn fake quantization into real int8 weights."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    with _quiet():
        move_exported_model_to_eval(prepared)
        return convert_pt2e(prepared)


def lower_to_onednn(converted: torch.fx.GraphModule, image_size: int) -> torch.fx.GraphModule:
    """Replace quantize -> float conv patterns by oneDNN int8 convolutions (no compiler)."""
    from torchao.quantization.pt2e.lowering import lower_pt2e_quantized_to_x86

    with _quiet(), torch.no_grad():
        return lower_pt2e_quantized_to_x86(converted, (example_input(image_size),))


def int8_conv_count(graph_module: torch.fx.GraphModule) -> int:
    """How many convolutions of a lowered graph run as oneDNN int8 kernels."""
    return sum(
        node.op == "call_function" and str(node.target) == _ONEDNN_QCONV
        for node in graph_module.graph.nodes
    )


def compile_for_cpu(
    model: nn.Module, image_size: int, batch: int = 1
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`torch.compile` with weight freezing (needed for the int8 pattern rewrites); the first
    call, on `batch` tiles, compiles (about a minute for the full U-Net on two cores) and is
    done here; another batch size compiles once more."""
    import torch._inductor.config as inductor_config

    compiled = torch.compile(model)

    def run(x: torch.Tensor) -> torch.Tensor:
        with inductor_config.patch(freezing=True), torch.no_grad():
            return compiled(x)

    with _quiet():
        run(example_input(image_size, batch))
    return run


@dataclasses.dataclass(frozen=True)
class DynamicResult:
    model: nn.Module
    converted: list[str]  # names of the modules that now compute in int8


def quantize_dynamic_int8(model: nn.Module) -> DynamicResult:
    """PyTorch dynamic int8 of Linear/GRU/LSTM modules; lists what it actually converted.

    Raises ModelshrinkError if the API is gone from this torch (it is deprecated), so the loss
    of the only int8 path for GRUs is loud.
    """
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as error:  # pragma: no cover - depends on the torch release
        raise ModelshrinkError(
            f"torch {torch.__version__}: torch.ao.quantization.quantize_dynamic is gone; "
            "dynamic int8 needs a torch that still ships it"
        ) from error
    covered = (nn.Linear, nn.GRU, nn.LSTM)
    before = {name: type(module) for name, module in model.named_modules()}
    with _quiet():
        quantized = quantize_dynamic(model.eval(), set(covered), dtype=torch.qint8, inplace=False)
    converted = [
        name
        for name, module in quantized.named_modules()
        if name in before and type(module) is not before[name] and name
    ]
    return DynamicResult(model=quantized, converted=converted)
