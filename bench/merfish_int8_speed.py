"""merFISH: float32 vs int8 (static PTQ, QAT): stored size, what the int8 file holds, speed.

Simulates, trains and compresses with the `merfish:` settings of `--config` (the workflow's
demo by default; `--image-size`, `--width`, `--epochs` override them; `--epochs 0` keeps the
seeded untrained network: sizes and speeds do not depend on the weights, only accuracies do),
through the code the workflow uses, and prints four tables:

1. stored bytes and ratio to float32, reload seconds, the issue's accuracies and the
   position-accuracy change against float32 in points;
2. what the static int8 file holds: code bytes, scales, biases, activation qparams, header;
3. median milliseconds per tile of every execution path, timed in one process and
   interleaved (one call of each path per round, `--repeats` rounds) so load from other
   processes on a shared machine hits them alike; once with a batch of tiles per call (what
   the workflow's evaluation times) and once with single tiles; the int8/float32 speed
   ratios against float32 eager (the workflow's reference) and the fastest float32 path;
4. one convolution of each U-Net level with every int8 kernel torch offers here: oneDNN
   (the workflow's) and the `torch.backends.quantized.engine` kernels (fbgemm, x86,
   onednn, qnnpack), against float32, to show which is fastest on this CPU.

The CPU's instruction sets (AVX2, AVX-512, VNNI, AMX) and the load average are printed with
the numbers. Numbers, not pass/fail.

    .venv/bin/python bench/merfish_int8_speed.py --workdir /tmp/merfish-bench
    .venv/bin/python bench/merfish_int8_speed.py --workdir /tmp/merfish-full --image-size 64 \
        --width 1 --epochs 0 --tiles-per-call 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from modelshrink.cpu_features import detect
from modelshrink.merfish import storage
from modelshrink.merfish.dataset import MerfishSplit, read_split
from modelshrink.merfish.evaluate import evaluate_file
from modelshrink.merfish.inference import make_execution, tiles_per_call
from modelshrink.merfish.int8_glue import aten_glue, fused_glue
from modelshrink.merfish.model_variants import make_variant
from modelshrink.merfish.simulate import write_dataset
from modelshrink.merfish.spec import MerfishConfig
from modelshrink.merfish.train import new_model, train_model
from modelshrink.toolbox.storage import model_size_report

METRICS = ("position_accuracy", "position_jaccard", "barcode_accuracy", "barcode_jaccard")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/merfish-bench"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--image-size", type=int, help="override simulation.image_size")
    parser.add_argument("--width", type=float, help="override model.width")
    parser.add_argument("--epochs", type=int, help="override train.epochs; 0: untrained")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10, help="interleaved timing rounds")
    parser.add_argument(
        "--tiles-per-call", type=int, help="batch of the batched timing (default: as evaluated)"
    )
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile runs")
    parser.add_argument(
        "--no-native-fp16",
        action="store_true",
        help="skip forced native float16 (emulated without AVX512-FP16: 17-100x slower)",
    )
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
    model = storage.load_merfish_model(paths["float32"]).module
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
        storage.load_merfish_model(path)
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


Runner = Callable[[torch.Tensor], torch.Tensor]


def _load() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def _runners(paths: dict[str, Path], args: argparse.Namespace) -> dict[str, Runner]:
    """Every execution path of the float32, fp16 and int8 variants, built once."""
    float32 = storage.load_merfish_model(paths["float32"])
    module = float32.module.eval()
    runners: dict[str, Runner] = {
        "float32 eager": make_execution(float32, "eager").run,
        "float32 eager channels-last": lambda x: module(
            x.contiguous(memory_format=torch.channels_last)
        ),
    }
    if not args.no_native_fp16:
        native = dataclasses.replace(detect(), native_fp16=True)  # forced, to show its cost
        runners["fp16 native float16"] = make_execution(
            storage.load_merfish_model(paths["fp16"]), "eager", cpu=native
        ).run
    fused = fused_glue()
    for name in ("static_int8", "qat_int8"):
        stored = storage.load_merfish_model(paths[name])
        if fused is not None:
            runners[f"{name} onednn fused"] = make_execution(stored, "onednn", fused).run
        runners[f"{name} onednn aten glue"] = make_execution(stored, "onednn", aten_glue()).run
        runners[f"{name} torchao"] = make_execution(stored, "torchao").run
        runners[f"{name} eager reference"] = make_execution(stored, "eager").run
    if not args.no_compile:
        for name in ("float32", "static_int8"):
            started = time.perf_counter()
            stored = storage.load_merfish_model(paths[name])
            runners[f"{name} compiled"] = make_execution(stored, "compiled").run
            print(f"compiled {name} in {time.perf_counter() - started:.0f} s")
    return runners


@torch.no_grad()
def _interleaved(runners: dict[str, Runner], tiles: torch.Tensor, repeats: int) -> dict:
    """Median seconds per tile of each runner, one call each per round."""
    for run in runners.values():
        run(tiles)
    times: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(repeats):
        for label, run in runners.items():
            started = time.perf_counter()
            run(tiles)
            times[label].append((time.perf_counter() - started) / len(tiles))
    return times


def _speed_table(runners: dict[str, Runner], images: torch.Tensor, args) -> dict:
    batch = args.tiles_per_call or tiles_per_call(images.shape[-1])
    results = {}
    for tiles in (images[:batch], images[:1]):
        print(
            f"\nspeed: {torch.get_num_threads()} thread(s), {len(tiles)} tile(s) per call "
            f"({tiles.shape[-1]}x{tiles.shape[-1]}), median of {args.repeats} interleaved "
            f"rounds; {_load()} before"
        )
        times = _interleaved(runners, tiles, args.repeats)
        median = {label: statistics.median(values) for label, values in times.items()}
        eager = median["float32 eager"]
        best_label = min((lbl for lbl in median if lbl.startswith("float32")), key=median.get)
        print(
            f"{'path':<34}{'ms/tile':>9}{'int8/float32 eager':>20}"
            f"{'vs best float32':>17}   (best float32: {best_label}; {_load()} after)"
        )
        for label, seconds in median.items():
            print(
                f"{label:<34}{1e3 * seconds:>9.2f}{eager / seconds:>19.2f}x"
                f"{median[best_label] / seconds:>16.2f}x"
            )
        results[len(tiles)] = times
    return results


def _kernel_table(config: MerfishConfig, batch: int) -> None:
    """One 3x3 convolution per U-Net level: float32 against each int8 kernel on offer."""
    size, spec = config.simulation.image_size, config.model
    print(
        f"\nkernels: one 3x3 conv per U-Net level, batch {batch}, median of 10 interleaved; "
        f"quantized.engine kernels read and write quint8 (deprecated tensors), oneDNN "
        f"qconv reads uint8 and writes float32 as the workflow does; {_load()}"
    )
    print(f"{'level':<24}{'float32 ms':>11}" + "".join(f"{k:>11}" for k in _INT8_KERNELS))
    for channels, side in (
        (spec.channels(48), size),
        (spec.channels(96), size // 2),
        (spec.channels(192), size // 4),
    ):
        times = _conv_kernels(batch, channels, side)
        reference = times.pop("float32")
        print(
            f"{f'{channels} ch {side}x{side}':<24}{1e3 * reference:>11.3f}"
            + "".join(
                f"{reference / times[k]:>10.2f}x" if k in times else f"{'n/a':>11}"
                for k in _INT8_KERNELS
            )
        )


_INT8_KERNELS = ("onednn", "fbgemm", "x86", "q.onednn", "qnnpack")


@torch.no_grad()
def _conv_kernels(batch: int, channels: int, side: int) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, side + 2, side + 2, generator=generator)
    weight = torch.randn(channels, channels, 3, 3, generator=generator) * 0.1
    bias = torch.zeros(channels)
    w_scale = weight.abs().amax(dim=(1, 2, 3)) / 127
    w_zero = torch.zeros(channels, dtype=torch.int64)
    codes = torch.round(weight / w_scale.view(-1, 1, 1, 1)).to(torch.int8)
    x_scale, x_zero = 0.02, 128
    x_codes = torch.clamp(torch.round(x / x_scale) + x_zero, 0, 255).to(torch.uint8)
    x_codes = x_codes.contiguous(memory_format=torch.channels_last)
    packed = torch.ops.onednn.qconv_prepack(
        codes, w_scale, x_scale, x_zero, [1, 1], [0, 0], [1, 1], 1, None
    )
    kernels: dict[str, Callable[[], object]] = {
        "float32": lambda: torch.nn.functional.conv2d(x, weight, bias),
        "onednn": lambda: torch.ops.onednn.qconv_pointwise.default(
            x_codes, x_scale, x_zero, packed, w_scale, w_zero, bias, [1, 1], [0, 0], [1, 1], 1,
            1.0, 0, torch.float32, "none", [], "",
        ),
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated
        q_x = torch.quantize_per_tensor(x, x_scale, x_zero, torch.quint8)
        q_x = q_x.contiguous(memory_format=torch.channels_last)
        q_w = torch.quantize_per_channel(weight, w_scale, w_zero, 0, torch.qint8)
        for label in _INT8_KERNELS[1:]:
            engine = label.removeprefix("q.")
            if engine not in torch.backends.quantized.supported_engines:
                continue
            torch.backends.quantized.engine = engine
            engine_packed = torch.ops.quantized.conv2d_prepack(q_w, bias, [1, 1], [0, 0], [1, 1], 1)
            kernels[label] = lambda p=engine_packed, e=engine: _engine_conv(q_x, p, e)
        times = _interleaved({k: lambda _, f=f: f() for k, f in kernels.items()}, x[:1], 10)
    return {label: statistics.median(values) for label, values in times.items()}


def _engine_conv(q_x: torch.Tensor, packed: object, engine: str) -> torch.Tensor:
    torch.backends.quantized.engine = engine
    return torch.ops.quantized.conv2d(q_x, packed, 0.05, 128)


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    config = _settings(args)
    paths, test = _make_models(args, config)
    size = config.simulation.image_size
    float_module = storage.load_merfish_model(paths["float32"]).module
    print(
        f"\nmerFISH anglerFISH width {config.model.width} "
        f"({sum(p.numel() for p in float_module.parameters())} "
        f"float parameters), {size}x{size} tiles, {config.train.epochs} training epochs"
    )
    _size_table(paths, test)
    _file_contents(paths["static_int8"])
    fused = "fused C++ glue built" if fused_glue() else "no C++ compiler: ATen glue only"
    print(f"\ncpu: {detect().describe()}; torch {torch.__version__}; {fused}; {_load()}")
    times = _speed_table(_runners(paths, args), test.images, args)
    (args.workdir / "speed.json").write_text(
        json.dumps({"threads": torch.get_num_threads(), "seconds_per_tile": times}, indent=1)
    )
    _kernel_table(config, args.tiles_per_call or tiles_per_call(size))
    (args.workdir / "settings.json").write_text(
        json.dumps({**vars(args), "workdir": str(args.workdir)}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
