"""merFISH: float32 vs int8 (static PTQ, QAT): stored size, what the int8 file holds, speed.

Simulates, trains and compresses with the `merfish:` settings of `--config` (the workflow's
demo by default; `--image-size`, `--width`, `--epochs` override them; `--epochs 0` keeps the
seeded untrained network: sizes and speeds do not depend on the weights, only accuracies do),
through the code the workflow uses, and prints three tables:

1. stored bytes and ratio to float32, reload seconds, the issue's accuracies and the
   position-accuracy change against float32 in points;
2. what the static int8 file holds: code bytes, scales, biases, activation qparams, header;
3. median milliseconds per single-tile call of every runtime, measured in one process and
   interleaved (one call of each runtime per round, `--repeats` rounds) so load from other
   processes on a shared machine hits them alike; thread count stated; speed-ups against both
   float32 eager and float32 `torch.compile` (the best float path).

Numbers, not pass/fail.

    .venv/bin/python bench/merfish_int8_speed.py --workdir /tmp/merfish-bench
    .venv/bin/python bench/merfish_int8_speed.py --workdir /tmp/merfish-full --image-size 64 \
        --width 1 --epochs 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from modelshrink.compress.storage import model_size_report
from modelshrink.merfish import storage
from modelshrink.merfish.dataset import MerfishSplit, read_split
from modelshrink.merfish.evaluate import evaluate_file
from modelshrink.merfish.inference import make_runner
from modelshrink.merfish.simulate import write_dataset
from modelshrink.merfish.spec import MerfishConfig
from modelshrink.merfish.train import new_model, train_model
from modelshrink.merfish.variants import make_variant

METRICS = ("position_accuracy", "position_jaccard", "barcode_accuracy", "barcode_jaccard")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/merfish-bench"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--image-size", type=int, help="override simulation.image_size")
    parser.add_argument("--width", type=float, help="override model.width")
    parser.add_argument("--epochs", type=int, help="override train.epochs; 0: untrained")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=40, help="interleaved timing rounds")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile runs")
    return parser.parse_args()


def _settings(args: argparse.Namespace) -> MerfishConfig:
    """The config's merfish settings with the command line's overrides."""
    section = yaml.safe_load(args.config.read_text()).get("merfish") or {}
    sections = ("simulation", "model", "train", "variants")
    config = MerfishConfig.from_mapping({key: section[key] for key in sections if key in section})
    simulation, model, train = config.simulation, config.model, config.train
    if args.image_size:
        emitters = round(simulation.emitter_count * (args.image_size / simulation.image_size) ** 2)
        simulation = dataclasses.replace(
            simulation, image_size=args.image_size, emitter_count=emitters
        )
    if args.width:
        model = dataclasses.replace(model, width=args.width)
    if args.epochs is not None:
        train = dataclasses.replace(train, epochs=args.epochs)
    return dataclasses.replace(config, simulation=simulation, model=model, train=train)


def _make_models(
    args: argparse.Namespace, config: MerfishConfig
) -> tuple[dict[str, Path], MerfishSplit]:
    """Simulate, train and compress once per workdir; later runs reuse the files."""
    work, data = args.workdir, args.workdir / "data"
    image_size = config.simulation.image_size
    if not (data / "config.yml").is_file():
        write_dataset(data, config.simulation)
    train, val, test = (read_split(data, split) for split in ("train", "val", "test"))
    paths = {"float32": work / "float32.safetensors"}
    if not paths["float32"].is_file():
        started = time.perf_counter()
        model = new_model(config.model, seed=config.train.seed)
        result = train_model(model, train, val, config.train)
        storage.save_float(
            paths["float32"], model, "float32", image_size, {"best_epoch": result.best_epoch}
        )
        print(f"trained float32 in {time.perf_counter() - started:.0f} s")
    model = storage.load_model(paths["float32"]).module
    for name in ("static_int8", "qat_int8", "fp16"):
        paths[name] = work / f"{name}.safetensors"
        if not paths[name].is_file():
            started = time.perf_counter()
            make_variant(model, config.variant(name), config.train, train, val, paths[name])
            print(f"made {name} in {time.perf_counter() - started:.0f} s")
    return paths, test


def _size_table(paths: dict[str, Path], test: MerfishSplit) -> None:
    float_bytes = paths["float32"].stat().st_size
    labels = "".join(f"{name.replace('_', ' '):>19}" for name in METRICS)
    print(
        f"\n{'variant':<13}{'bytes':>10}{'smaller':>9}{'reload s':>10}{labels}"
        f"{'position vs float':>19}"
    )
    reference = None
    for name, path in paths.items():
        started = time.perf_counter()
        storage.load_model(path)
        reload_seconds = time.perf_counter() - started
        summary = evaluate_file(path, test, "auto", repeats=1).summary
        reference = summary if reference is None else reference  # float32 comes first
        change = 100 * (summary["position_accuracy"] - reference["position_accuracy"])
        print(
            f"{name:<13}{summary['stored_bytes']:>10}"
            f"{float_bytes / summary['stored_bytes']:>8.2f}x{reload_seconds:>10.1f}"
            + "".join(f"{summary[metric]:>19.3f}" for metric in METRICS)
            + f"{change:>+13.2f} points"
        )
    print(f"(test split: {len(test)} tiles, {int(test.position.sum())} emitters)")


def _file_contents(path: Path) -> None:
    """Where the bytes of an int8 file go (scales are inside the code tensors' bytes)."""
    report = model_size_report(path)
    tensors = report["tensors"]
    codes = sum(e["parameters"] for n, e in tensors.items() if n.startswith("conv"))
    scales = sum(e["stored_bytes"] for n, e in tensors.items() if n.startswith("conv")) - codes
    parts = {
        "int8 codes": codes,
        "weight scales (float32)": scales,
        "biases (float32)": tensors["biases"]["stored_bytes"],
        "activation qparams": tensors["activations"]["stored_bytes"],
        "header (JSON + index)": report["file_bytes"] - report["tensor_bytes"],
    }
    print(f"\n{path.name}: {report['file_bytes']} bytes")
    for part, size in parts.items():
        print(f"  {part:<26}{size:>10}{100 * size / report['file_bytes']:>8.1f} %")


def _speed_table(paths: dict[str, Path], tile: torch.Tensor, args: argparse.Namespace) -> None:
    runners: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    runtimes = {"float32": ("eager", "compiled"), "static_int8": ("onednn", "compiled")}
    runtimes["qat_int8"] = runtimes["static_int8"]
    for name, kinds in runtimes.items():
        stored = storage.load_model(paths[name])
        for kind in kinds:
            if kind == "compiled" and args.no_compile:
                continue
            started = time.perf_counter()
            runners[f"{name} {kind}"] = make_runner(stored, kind)[0]
            print(f"prepared {name} {kind} in {time.perf_counter() - started:.0f} s")
    times: dict[str, list[float]] = {label: [] for label in runners}
    with torch.no_grad():
        for run in runners.values():
            for _ in range(3):
                run(tile)
        for _ in range(args.repeats):
            for label, run in runners.items():
                started = time.perf_counter()
                run(tile)
                times[label].append(time.perf_counter() - started)
    median = {label: statistics.median(values) for label, values in times.items()}
    eager = median["float32 eager"]
    compiled = median.get("float32 compiled", float("nan"))
    print(
        f"\nspeed: {torch.get_num_threads()} thread(s), median of {args.repeats} interleaved "
        f"single-tile calls ({tile.shape[-1]}x{tile.shape[-1]})"
    )
    print(f"{'runtime':<22}{'ms/tile':>9}{'vs float eager':>16}{'vs float compiled':>19}")
    for label, seconds in median.items():
        print(
            f"{label:<22}{1e3 * seconds:>9.2f}{eager / seconds:>15.2f}x{compiled / seconds:>18.2f}x"
        )
    (args.workdir / "speed.json").write_text(
        json.dumps({"threads": torch.get_num_threads(), "seconds": times}, indent=1)
    )


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    config = _settings(args)
    paths, test = _make_models(args, config)
    size = config.simulation.image_size
    print(
        f"\nmerFISH anglerFISH width {config.model.width} "
        f"({sum(p.numel() for p in storage.load_model(paths['float32']).module.parameters())} "
        f"float parameters), {size}x{size} tiles, {config.train.epochs} training epochs"
    )
    _size_table(paths, test)
    _file_contents(paths["static_int8"])
    _speed_table(paths, test.images[:1], args)
    (args.workdir / "settings.json").write_text(
        json.dumps({**vars(args), "workdir": str(args.workdir)}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
