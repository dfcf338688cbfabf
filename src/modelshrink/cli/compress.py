"""Turn the original model into one compressed variant: prune, fine-tune, quantize, store.

  modelshrink compress ORIGINAL.safetensors OUTPUT.safetensors --name VARIANT --spec SPEC \
      [--report REPORT.json] [--training PATH ...] [--loss-log LOSS.tsv] \
      [--threads N] [--seed S]
  modelshrink compress --spec SPEC [--name VARIANT] --check-only

SPEC is the variant's spec mapping (keys prune / quantize / finetune / order, as in
config.yaml's `variants.<name>`) as a JSON string, or a YAML/JSON file holding it (or a
whole config with a `variants:` mapping, from which --name picks one). The whole spec
is checked before any model or training data is loaded; --check-only stops there
(no torch needed), checking names against Taiyaki's R9.4.1 parameters.

--training takes Taiyaki mapped-signal files (real reads with labels), modelshrink
chunk files (simulated, labelled) and raw fast5/pod5 reads (files or folders; no
labels, so for `objective: distill` and OBS calibration only: the crf and mixed
objectives refuse them).

The report (JSON, also printed) gives bytes on disk, the ratio to the fp32 original
file, parameters, non-zero parameters, bits per parameter, multiply-accumulates per
raw sample (dense and sparsity-aware), the spec, what the variant learned from
(`tuned_on`: real, simulated, real+simulated or none; `training`: sources, reads,
chunks) and the fine-tuning summary.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelshrink.cli.settings_file import read_settings_file
from modelshrink.errors import ModelshrinkError

log = logging.getLogger("modelshrink.toolbox")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("original", type=Path, nargs="?", help="fp32 model (.safetensors)")
    parser.add_argument("output", type=Path, nargs="?", help="variant file to write")
    parser.add_argument("--name", help="variant name (as in config.yaml variants)")
    parser.add_argument(
        "--settings",
        "--spec",
        dest="spec",
        required=True,
        help="the variant's spec: a JSON/YAML file (the workflow's settings file) or inline JSON",
    )
    parser.add_argument("--report", type=Path, help="write the variant report (JSON) here")
    parser.add_argument(
        "--training",
        type=Path,
        nargs="+",
        default=[],
        help="training data: mapped-signal/chunk HDF5, or fast5/pod5 reads (files, folders)",
    )
    parser.add_argument("--loss-log", type=Path, help="fine-tuning loss log (TSV)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, help="fine-tuning seed (default: the spec's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--check-only", action="store_true", help="validate the spec and exit (no torch)"
    )


def read_spec_argument(text: str) -> Mapping[str, Any]:
    """The mapping a --spec argument holds: a file's YAML/JSON, or inline JSON."""
    path = Path(text)
    # Inline JSON first: a long JSON string is no valid file name (is_file raises).
    if not text.lstrip().startswith("{") and path.is_file():
        value = read_settings_file(path, "--spec")
        where = f"--spec {path}"
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ModelshrinkError(
                f"--spec {text[:60]!r}: neither an existing file nor JSON ({error.msg}); "
                f'expected a JSON mapping like \'{{"quantize": {{"scheme": "per_channel"}}}}\''
            ) from error
        where = "--spec"
    if not isinstance(value, Mapping):
        raise ModelshrinkError(f"{where}: expected a mapping of prune/quantize/finetune keys")
    return value


def select_variants(raw: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    """{name: spec}: the one spec given, or from a config's `variants:` the named one
    (every one when no name is given)."""
    variants = raw.get("variants")
    if not isinstance(variants, Mapping):
        return {name or "variant": raw}
    if name is None:
        return dict(variants)
    if name not in variants:
        known = ", ".join(map(str, variants))
        raise ModelshrinkError(f"--name {name!r} is not among the spec file's variants: {known}")
    return {name: variants[name]}


def _check_arguments(args: argparse.Namespace) -> None:
    if args.check_only:
        return
    if args.original is None or args.output is None:
        raise ModelshrinkError("give ORIGINAL and OUTPUT model files (or --check-only)")
    if not args.name:
        raise ModelshrinkError("--name VARIANT is required when writing a variant")
    if not args.original.is_file():
        raise ModelshrinkError(f"original model {args.original} does not exist")
    if args.threads < 1:
        raise ModelshrinkError("--threads must be at least 1")


def run(args: argparse.Namespace) -> int:
    from modelshrink.basecaller.compress.spec import parse_variant, validate_variants

    _check_arguments(args)
    variants = select_variants(read_spec_argument(args.spec), args.name)
    if args.check_only:
        validate_variants(variants)
        print(f"spec OK: {', '.join(map(str, variants))}")
        return 0
    ((name, raw),) = variants.items()
    from modelshrink.basecaller.compress.model_variant import check_training_files

    check_training_files(parse_variant(name, raw or {}), args.training)

    import torch

    from modelshrink.basecaller.compress.model_variant import (
        FinetuneOptions,
        build_variant,
        variant_report,
        write_report,
    )
    from modelshrink.toolbox.storage import load_model

    torch.set_num_threads(args.threads)
    spec = parse_variant(name, raw or {}, list(load_model(args.original).tensors))
    options = FinetuneOptions(
        tuple(args.training), args.loss_log, args.seed, progress=not args.no_progress
    )
    built = build_variant(args.original, args.output, spec, options)
    report = variant_report(name, args.output, args.original, raw or {}, built)
    if args.report:
        write_report(args.report, report)
    print(json.dumps(report, indent=2))
    log.info("%s: %d bytes, %.2fx smaller", name, report["bytes"], report["ratio"])
    return 0
