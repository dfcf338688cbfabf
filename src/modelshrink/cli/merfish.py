"""merFISH spot detector: simulate tiles, train anglerFISH, compress it, evaluate variants.

Each step reads and writes files, so a Snakemake rule can call it directly:

  modelshrink merfish simulate --out data/merfish
  modelshrink merfish train    --data data/merfish --out models/merfish/float32.safetensors
  modelshrink merfish compress --model models/merfish/float32.safetensors --data data/merfish \\
                               --variant static --out models/merfish/static.safetensors \\
                               --summary models/merfish/static.json
  modelshrink merfish evaluate --model models/merfish/static.safetensors --data data/merfish \\
                               --reference models/merfish/float32.safetensors \\
                               --out results/merfish/static.json --curves results/merfish/static.tsv

Settings come from the `merfish:` section of --settings FILE (JSON/YAML: a config.yaml or the
workflow's settings file; --config is an alias) and --param KEY=VALUE
overrides with dotted keys inside that section (simulation.image_size=32, model.width=0.25,
train.epochs=2, variants.int8.method=static). --variant names a key of merfish.variants or a
method (float32, fp16, dynamic, static, qat, prune) with default settings.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from modelshrink.cli.settings_file import apply_settings_file
from modelshrink.errors import ModelshrinkError

log = logging.getLogger("modelshrink.merfish")
_STEPS = ("simulate", "train", "compress", "evaluate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    def step(name: str, help_text: str, settings: bool = True) -> argparse.ArgumentParser:
        sub = steps.add_parser(name, help=help_text, description=help_text)
        if settings:
            sub.add_argument(
                "--settings",
                "--config",
                dest="config",
                type=Path,
                help="JSON/YAML with a merfish: section (config.yaml, or the workflow's settings)",
            )
            sub.add_argument(
                "--param",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="override a key of the merfish: section (repeatable)",
            )
        sub.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
        return sub

    simulate = step("simulate", "write synthetic tiles in the original dataset layout")
    simulate.add_argument("--out", type=Path, required=True, help="dataset folder to (re)create")

    train = step("train", "train the float32 network; keeps the best-validation weights")
    train.add_argument("--data", type=Path, required=True, help="dataset folder")
    train.add_argument("--out", type=Path, required=True, help="model file (.safetensors)")
    train.add_argument("--history", type=Path, help="write per-epoch losses here (JSON)")

    compress = step("compress", "make one variant (fp16, dynamic, static, qat, prune ...)")
    compress.add_argument("--model", type=Path, required=True, help="trained float32 model")
    compress.add_argument("--data", type=Path, required=True, help="dataset (calibration, tuning)")
    compress.add_argument("--variant", required=True, help="merfish.variants key or method name")
    compress.add_argument("--out", type=Path, required=True, help="variant file (.safetensors)")
    compress.add_argument("--summary", type=Path, help="size/parameters/MACs summary (JSON)")

    evaluate = step(
        "evaluate", "score a variant on a split: accuracy, Jaccard, curves, time", settings=False
    )
    evaluate.add_argument("--model", type=Path, required=True, help="variant file")
    evaluate.add_argument("--data", type=Path, required=True, help="dataset folder")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))
    evaluate.add_argument("--out", type=Path, required=True, help="metrics (JSON)")
    evaluate.add_argument(
        "--curves", type=Path, help="PR/ROC points (TSV), for report merfish-plots"
    )
    evaluate.add_argument("--maps", type=Path, help="probability maps with truth (PNG)")
    evaluate.add_argument(
        "--runtime",
        default="auto",
        choices=("auto", "eager", "onednn", "torchao", "compiled"),
        help="how to execute (auto: oneDNN int8 kernels for int8 variants on x86)",
    )
    evaluate.add_argument(
        "--repeats", type=int, default=20, help="timed calls, each on a batch of tiles"
    )
    evaluate.add_argument(
        "--settings",
        type=Path,
        help="JSON/YAML with a merfish.evaluation section (split, runtime, repeats); its "
        "values replace those options",
    )
    evaluate.add_argument(
        "--reference",
        type=Path,
        help="float32 model timed with the variant, interleaved; gives the speedup",
    )


# ---------------------------------------------------------------- settings


def _load_settings(args: argparse.Namespace) -> Any:
    import yaml

    from modelshrink.cli.settings_file import read_settings_file, settings_section
    from modelshrink.merfish.spec import MerfishConfig

    section: dict[str, Any] = {}
    if args.config is not None:
        section = settings_section(read_settings_file(args.config), "merfish", args.config)
        section.pop("evaluation", None)  # the workflow's own key, read by `evaluate`
    for item in args.param:
        key, separator, text = item.partition("=")
        if not separator or not key:
            raise ModelshrinkError(f"--param {item!r}: expected KEY=VALUE, e.g. model.width=0.25")
        target = section
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise ModelshrinkError(f"--param {item!r}: {parent} is not a mapping")
        target[leaf] = yaml.safe_load(text)
    return MerfishConfig.from_mapping(section)


def _write_text(path: Path, text: str) -> None:
    from modelshrink.atomic import write_text_atomic

    write_text_atomic(path, text)


def _write_json(path: Path, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=2) + "\n")


# ---------------------------------------------------------------- steps


def _simulate(args: argparse.Namespace) -> int:
    from modelshrink.merfish.simulate import write_dataset

    config = _load_settings(args)
    write_dataset(args.out, config.simulation)
    log.info("wrote %s", args.out)
    return 0


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from modelshrink.merfish import storage
    from modelshrink.merfish.dataset import read_split
    from modelshrink.merfish.train import new_model, train_model

    config = _load_settings(args)
    train_split, val_split = read_split(args.data, "train"), read_split(args.data, "val")
    model = new_model(config.model, config.train.seed)
    result = train_model(model, train_split, val_split, config.train)
    info = {
        "train": dataclasses.asdict(config.train),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
    }
    size = storage.save_float(args.out, model, "float32", train_split.image_size, info)
    log.info(
        "best epoch %d (val loss %.4f); %s: %d bytes",
        result.best_epoch,
        result.best_val_loss,
        args.out,
        size,
    )
    if args.history:
        _write_json(args.history, {"history": result.history, **info})
    return 0


def _compress(args: argparse.Namespace) -> int:
    from modelshrink.merfish import storage
    from modelshrink.merfish.dataset import read_split
    from modelshrink.merfish.model_variants import make_variant

    config = _load_settings(args)
    variant = config.variant(args.variant)
    stored = storage.load_merfish_model(args.model)
    if stored.variant != "float32":
        raise ModelshrinkError(f"{args.model}: is a {stored.variant} model; expected float32")
    train_split, val_split = read_split(args.data, "train"), read_split(args.data, "val")
    summary = make_variant(stored.module, variant, config.train, train_split, val_split, args.out)
    summary["name"] = args.variant
    log.info("%s: %s, %d bytes", args.out, summary["variant"], summary["stored_bytes"])
    if args.summary:
        _write_json(args.summary, summary)
    return 0


def _curve_rows(variant: str, target: str, curve: Any, points: int = 400) -> list[str]:
    """Curves thinned to at most `points` points each so the TSV stays small."""
    import numpy as np

    rows = []
    for kind, xs, ys in (
        ("pr", curve.recall, curve.precision),
        ("roc", curve.false_positive_rate, curve.true_positive_rate),
    ):
        keep = np.unique(np.linspace(0, len(xs) - 1, min(points, len(xs))).round().astype(int))
        rows += [f"{variant}\t{target}\t{kind}\t{xs[i]:.6g}\t{ys[i]:.6g}" for i in keep]
    return rows


def _evaluate(args: argparse.Namespace) -> int:
    from modelshrink.merfish.dataset import read_split
    from modelshrink.merfish.evaluate import evaluate_file
    from modelshrink.merfish.model import POSITION_CHANNEL

    options = {"split": "split", "runtime": "runtime", "repeats": "repeats"}
    apply_settings_file(args, {"merfish.evaluation": options})
    split = read_split(args.data, args.split)
    result = evaluate_file(args.model, split, args.runtime, args.repeats, args.reference)
    _write_json(args.out, result.summary)
    name = args.model.stem
    if args.curves:
        rows = ["variant\ttarget\tcurve\tx\ty"]
        rows += _curve_rows(name, "position", result.position_curve)
        rows += _curve_rows(name, "barcode", result.barcode_curve)
        _write_text(args.curves, "\n".join(rows) + "\n")
    if args.maps:
        from modelshrink.merfish.probability_maps import plot_probability_maps

        plot_probability_maps(
            result.probabilities[:, POSITION_CHANNEL], split.position.numpy(), args.maps
        )
    log.info("%s", json.dumps(result.summary))
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads < 1:
        raise ModelshrinkError(f"--threads: expected at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    steps = {
        "simulate": _simulate,
        "train": _train,
        "compress": _compress,
        "evaluate": _evaluate,
    }
    return steps[args.step](args)
