"""merFISH: float32 vs int8 (static PTQ, QAT) inference time per tile and stored size.

Trains a small anglerFISH on simulated tiles (or takes --model), makes the variants through
the same code the workflow uses, and prints one table: stored bytes and ratio to float32,
median seconds per tile (single-tile calls, thread count stated) under each runtime, and the
issue's accuracies. Numbers, not pass/fail.

    .venv/bin/python bench/merfish_int8_speed.py --workdir /tmp/merfish-bench
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from modelshrink.merfish import storage
from modelshrink.merfish.dataset import read_split
from modelshrink.merfish.evaluate import evaluate_file
from modelshrink.merfish.inference import make_runner, time_per_tile
from modelshrink.merfish.simulate import write_dataset
from modelshrink.merfish.spec import ModelSpec, SimulationSpec, TrainSpec, VariantSpec
from modelshrink.merfish.train import new_model, train_model
from modelshrink.merfish.variants import make_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/merfish-bench"))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--train-tiles", type=int, default=48)
    parser.add_argument("--position-weight", type=float, default=3.0)
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.workdir
    data = work / "data"
    simulation = SimulationSpec(
        image_size=args.image_size,
        train_tiles=args.train_tiles,
        val_tiles=8,
        test_tiles=8,
        emitter_count=args.image_size**2 // 85,
    )
    train_spec = TrainSpec(
        epochs=args.epochs, batch_size=8, learning_rate=3e-3, position_weight=args.position_weight
    )
    if not (data / "config.yml").is_file():
        write_dataset(data, simulation)
    train, val, test = (read_split(data, split) for split in ("train", "val", "test"))
    float_path = work / "float32.safetensors"
    if not float_path.is_file():
        started = time.perf_counter()
        model = new_model(ModelSpec(width=args.width), seed=0)
        result = train_model(model, train, val, train_spec)
        storage.save_float(
            float_path, model, "float32", simulation.image_size, {"best_epoch": result.best_epoch}
        )
        print(
            f"trained float32 in {time.perf_counter() - started:.0f} s "
            f"(best epoch {result.best_epoch})"
        )
    model = storage.load_model(float_path).module
    variants = {
        "static_int8": VariantSpec(method="static", calibration_tiles=32),
        "qat_int8": VariantSpec(method="qat", epochs=args.qat_epochs, learning_rate=1e-4),
        "fp16": VariantSpec(method="fp16"),
        "dynamic_int8": VariantSpec(method="dynamic"),
    }
    paths = {"float32": float_path}
    for name, spec in variants.items():
        paths[name] = work / f"{name}.safetensors"
        if not paths[name].is_file():
            make_variant(model, spec, train_spec, train, val, paths[name])
    float_bytes = float_path.stat().st_size
    rows = []
    for name, path in paths.items():
        evaluation = evaluate_file(path, test, "auto", args.repeats).summary
        row = {
            "variant": name,
            "bytes": evaluation["stored_bytes"],
            "size_ratio": float_bytes / evaluation["stored_bytes"],
            "runtime": evaluation["runtime"],
            "s_per_tile": evaluation["seconds_per_tile"],
            **{
                key: evaluation[key]
                for key in (
                    "position_accuracy",
                    "position_jaccard",
                    "barcode_accuracy",
                    "barcode_jaccard",
                )
            },
        }
        if not args.no_compile and name in ("float32", "static_int8", "qat_int8"):
            stored = storage.load_model(path)
            started = time.perf_counter()
            runner, _ = make_runner(stored, "compiled")
            row["compile_s"] = time.perf_counter() - started
            row["compiled_s_per_tile"] = time_per_tile(runner, test.images[0], args.repeats)[
                "median_seconds"
            ]
        rows.append(row)
    reference = rows[0]
    print(
        f"\nmerFISH anglerFISH width {args.width}, {args.image_size}x{args.image_size} tiles, "
        f"{torch.get_num_threads()} thread(s), median of {args.repeats} single-tile runs"
    )
    print(
        f"{'variant':<13}{'bytes':>10}{'smaller':>9}{'runtime':>8}{'ms/tile':>9}"
        f"{'speedup':>9}{'compiled ms':>13}{'speedup*':>10}"
        f"{'pos acc':>9}{'pos J':>7}{'bc acc':>8}{'bc J':>7}"
    )
    for row in rows:
        compiled = row.get("compiled_s_per_tile")
        print(
            f"{row['variant']:<13}{row['bytes']:>10}{row['size_ratio']:>8.2f}x{row['runtime']:>8}"
            f"{1e3 * row['s_per_tile']:>9.2f}{reference['s_per_tile'] / row['s_per_tile']:>8.2f}x"
            + (
                f"{1e3 * compiled:>13.2f}{reference['compiled_s_per_tile'] / compiled:>9.2f}x"
                if compiled
                else " " * 23
            )
            + f"{row['position_accuracy']:>9.3f}{row['position_jaccard']:>7.3f}"
            f"{row['barcode_accuracy']:>8.3f}{row['barcode_jaccard']:>7.3f}"
        )
    print("speedup: vs float32 eager; speedup*: vs float32 torch.compile (same freezing flags)")
    (work / "bench.json").write_text(
        json.dumps(
            {
                "settings": {**vars(args), "workdir": str(work)},
                "simulation": dataclasses.asdict(simulation),
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
