"""One variant file from the original model and a parsed spec, plus its report.

The order is fixed: prune -> fine-tune (masks held; fake-quantized when `qat`) ->
quantize -> store. Gradual pruning (`prune.iterations` n > 1) repeats prune -> fine-tune
n times at 1/n, 2/n, ... of the sparsity; the teacher of distillation is always the
uncompressed original. Every tensor is stored in its cheapest honest encoding (sparse when
the zeros pay for the mask), and the report is computed from the file written, not
from the tensors in memory, so the numbers are those of what the basecaller will load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from modelshrink.atomic import write_text_atomic
from modelshrink.basecaller.compress.cost import model_cost
from modelshrink.basecaller.compress.dynamic_int8 import EXECUTION, save_dynamic_int8
from modelshrink.basecaller.compress.finetune import (
    FakeQuantization,
    FinetuneResult,
    finetune,
    write_loss_log,
)
from modelshrink.basecaller.compress.gptq import quantize_gptq
from modelshrink.basecaller.compress.obs_prune import (
    calibration_chunk_samples,
    calibration_signals,
    prune_obs,
)
from modelshrink.basecaller.compress.spec import PruneSpec, QuantizeSpec, VariantSpec
from modelshrink.basecaller.compress.structured_prune import prune_structured
from modelshrink.basecaller.compress.training_set import TrainingSet, load_training_set
from modelshrink.basecaller.compress.training_sources import (
    UNTUNED,
    label_origins,
    origin_label,
    refuse_unlabelled,
)
from modelshrink.errors import ModelshrinkError
from modelshrink.toolbox.names import assign_values
from modelshrink.toolbox.prune import prune_global, prune_magnitude
from modelshrink.toolbox.quantize import quantize_tensors, selected_names
from modelshrink.toolbox.storage import (
    TensorEncoding,
    compact_encoding,
    load_model,
    model_size_report,
    save_model,
)


@dataclass(frozen=True)
class FinetuneOptions:
    """What the command line adds to a spec's `finetune` section."""

    training: tuple[Path, ...] = ()
    loss_log: Path | None = None
    seed: int | None = None
    progress: bool = True


@dataclass(frozen=True)
class BuiltVariant:
    """What building a variant learned from: the fine-tuning result (None without
    fine-tuning), the training set's summary (None when no data was used) and
    `tuned_on`, which also counts what the source model had learned from (a `base`
    variant's fine-tuning carries over to the variants stored from it)."""

    tuned: FinetuneResult | None = None
    training: dict[str, Any] | None = None
    tuned_on: str = UNTUNED


def _pruned(
    architecture: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    spec: PruneSpec | None,
    fraction: float = 1.0,
    training: TrainingSet | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(architecture, tensors, keep-masks) after pruning `fraction` of the spec's
    sparsities. Weights already zero sort first (for OBS: cost nothing to remove), so
    a later, larger fraction keeps every earlier zero. OBS calibrates on `training`."""
    architecture, tensors = dict(architecture), dict(tensors)
    if spec is None:
        return architecture, tensors, {}
    if spec.method == "structured":
        result = prune_structured(tensors, architecture, spec.sparsity)
        return result.architecture, result.tensors, {}
    sparsity = {key: value * fraction for key, value in spec.sparsity.items()}
    if spec.method == "obs":
        if training is None:
            raise ModelshrinkError("prune method obs needs training chunks to calibrate on")
        result = prune_obs(architecture, tensors, sparsity, calibration_signals(training))
    else:
        prune = prune_global if spec.method == "global" else prune_magnitude
        result = prune(tensors, sparsity)
    return architecture, result.tensors, result.masks


def _merged(results: Sequence[FinetuneResult]) -> FinetuneResult:
    """One result of several rounds: the last tensors, the logs numbered on."""
    log = [
        (step + 1, layer, loss)
        for step, (_, layer, loss) in enumerate(row for result in results for row in result.log)
    ]
    return FinetuneResult(results[-1].tensors, log, sum(r.seconds for r in results))


def _bits_per_tensor(tensors: Mapping[str, torch.Tensor], spec: QuantizeSpec) -> dict[str, int]:
    """{tensor: bits} of every quantized tensor."""
    if spec.bits_by_param is not None:
        return assign_values(spec.bits_by_param, tensors, "quantize.bits")
    return dict.fromkeys(selected_names(tensors, spec.params), spec.config.bits)


def _quantized(
    architecture: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    spec: QuantizeSpec,
    training: TrainingSet | None,
) -> tuple[dict[str, torch.Tensor], dict[str, TensorEncoding]]:
    """The spec's scheme on its params, each tensor at its own bit-width where `bits`
    was given per parameter; GPTQ calibrated on the training chunks."""
    if spec.method == "gptq":
        if training is None:
            raise ModelshrinkError("quantize method gptq needs training chunks to calibrate on")
        bits = _bits_per_tensor(tensors, spec)
        return quantize_gptq(
            architecture, tensors, bits, spec.config, calibration_signals(training)
        )
    if spec.bits_by_param is None:
        return quantize_tensors(tensors, spec.config, spec.params)
    result, encodings = dict(tensors), {}
    for name, bits in _bits_per_tensor(tensors, spec).items():
        result, encoded = quantize_tensors(result, replace(spec.config, bits=bits), [name])
        encodings.update(encoded)
    return result, encodings


def build_variant(
    original: Path,
    output: Path,
    spec: VariantSpec,
    options: FinetuneOptions | None = None,
) -> BuiltVariant:
    """Write the variant file; returns what it learned from.

    Training data is read (and an empty set refused) before anything is computed; it
    keeps its labels only for the objectives that train on them.
    """
    options = options or FinetuneOptions()
    stored = load_model(original)
    training = None
    if spec.needs_training:
        stride = model_cost(stored.architecture, stored.tensors).stride
        chunk = (
            spec.finetune.chunk_length
            if spec.finetune
            else calibration_chunk_samples(options.training)
        )
        training = load_training_set(options.training, chunk, stride, spec.needs_labels)
    architecture, tensors = dict(stored.architecture), dict(stored.tensors)
    tuned = None
    if spec.finetune is None or training is None:
        architecture, tensors, _ = _pruned(architecture, tensors, spec.prune, 1.0, training)
    else:
        quantization = None
        if spec.finetune.qat and spec.quantize is not None and spec.quantize.config is not None:
            quantization = FakeQuantization(spec.quantize.config, spec.quantize.params)
        rounds = spec.prune.iterations if spec.prune is not None else 1
        seed = spec.finetune.seed if options.seed is None else options.seed
        results = []
        for round_ in range(1, rounds + 1):
            architecture, tensors, masks = _pruned(
                architecture, tensors, spec.prune, round_ / rounds, training
            )
            result = finetune(
                architecture,
                tensors,
                training,
                spec.finetune,
                masks=masks,
                quantization=quantization,
                progress=options.progress,
                seed=seed + round_ - 1,
                teacher=stored.tensors,
                teacher_architecture=stored.architecture,
                label=f"round{round_}/" if rounds > 1 else "",
            )
            results.append(result)
            tensors = result.tensors
        tuned = _merged(results)
        if options.loss_log is not None:
            write_loss_log(options.loss_log, tuned.log)
    origins = label_origins(stored.metadata.get("tuned_on", UNTUNED))
    tuned_on = origin_label(origins | (training.origins if training else set()))
    metadata = {"variant": spec.name, "source": Path(original).name, "tuned_on": tuned_on}
    built = BuiltVariant(tuned, training.summary(options.training) if training else None, tuned_on)
    if spec.quantize is not None and spec.quantize.config is None:
        save_dynamic_int8(output, architecture, tensors, metadata, spec.quantize.bits or 8)
        return built
    encodings = {}
    if spec.quantize is not None:
        tensors, encodings = _quantized(architecture, tensors, spec.quantize, training)
    compact = {name: compact_encoding(t, encodings.get(name)) for name, t in tensors.items()}
    save_model(output, architecture, tensors, metadata, compact)
    return built


def variant_report(
    name: str,
    path: Path,
    original: Path,
    raw_spec: Mapping[str, Any],
    built: BuiltVariant | None = None,
) -> dict[str, Any]:
    """Size and cost of a written variant, side by side with the fp32 original file,
    and what it learned from (`tuned_on`: real, simulated, real+simulated or none)."""
    built = built or BuiltVariant()
    size = model_size_report(path)
    stored = load_model(path)
    cost = model_cost(stored.architecture, stored.tensors, size["file_bytes"])
    original_bytes = Path(original).stat().st_size
    return {
        "variant": name,
        "file": str(path),
        "bytes": size["file_bytes"],
        "original_bytes": original_bytes,
        "ratio": original_bytes / size["file_bytes"],
        "parameters": cost.parameters,
        "nonzero_parameters": cost.nonzero_parameters,
        "bits_per_parameter": cost.bits_per_parameter,
        "macs_per_sample": cost.macs_per_sample,
        "sparse_macs_per_sample": cost.sparse_macs_per_sample,
        "execution": "int8" if stored.metadata.get("execution") == EXECUTION else "float32",
        "spec": dict(raw_spec),
        "tuned_on": built.tuned_on,
        "training": built.training,
        "finetune": built.tuned.summary() if built.tuned is not None else None,
    }


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")


def check_training_files(spec: VariantSpec, training: Sequence[Path]) -> None:
    """Fine-tuning or OBS pruning without data, data that is not there, or raw reads
    for an objective that needs labels, refused before any work."""
    if spec.needs_training and not training:
        what = (
            "finetune: fine-tuning"
            if spec.finetune
            else "prune: method obs"
            if spec.prune is not None and spec.prune.method == "obs"
            else "quantize: method gptq"
        )
        raise ModelshrinkError(
            f"variants.{spec.name}.{what} needs training data; give --training PATH ... "
            f"(Taiyaki mapped-signal or modelshrink chunk HDF5, or fast5/pod5 reads for "
            f"distillation and OBS)"
        )
    missing = [str(path) for path in training if not Path(path).exists()]
    if missing:
        raise ModelshrinkError(f"training data not found: {', '.join(missing)}")
    if spec.needs_labels:
        refuse_unlabelled(
            training, f"variants.{spec.name}.finetune.objective {spec.finetune.objective!r}"
        )
