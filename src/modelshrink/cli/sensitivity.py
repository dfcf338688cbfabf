"""Sensitivity scans (which tensors take which sparsity or bit-width) and proposed variants.

  modelshrink sensitivity scan MODEL.safetensors --chunks-from MAPPED.hdf5 ... \\
      --reads READS ... --reference REF.fasta -o scan.tsv [--heatmap scan.svg] \\
      [--sparsities 0.25 0.5 0.75] [--bits 8 6 4] [--scheme per_channel] [--chunks 24] \\
      [--chunk-samples 2000] [--read-count 8] [--read-samples 20000] [--threads N]
  modelshrink sensitivity propose MODEL.safetensors --scan scan.tsv \\
      (--budget-points 0.5 | --target-ratio 6) --chunks-from ... --reads ... \\
      --reference REF.fasta -o proposed.yaml [--report proposal.json] [--name proposed] \\
      [--read-count 16] [--read-samples 20000]
  modelshrink sensitivity merfish MODEL.safetensors --data DIR -o scan.tsv \\
      [--heatmap scan.svg] [--split val] [--sparsities ...] [--bits ...]

scan: every weight matrix of the basecaller (the convolution, each GRU's input and
recurrent matrices, the output layer) is pruned (magnitude) or quantized (per channel)
alone, without fine-tuning, at every grid setting. Damage on real labelled chunks
(Taiyaki mapped-signal: flip-flop CRF loss and KL divergence to the original's output)
and on a fixed subset of reads (mean Wick read identity of the first --read-count reads,
each cut to --read-samples samples; loss in percentage points). One TSV row per tensor x
setting, plus an `original` row per tensor.

propose: per-tensor sparsities and bit-widths within a read-identity budget (or for a
size ratio), from the scan by greedy knapsack, built exactly as `modelshrink compress`
builds it and measured on the verification reads; written as a config snippet
(`variants: {NAME: ...}`) usable in config.yaml or as `modelshrink compress --spec`.

merfish: the same for the merFISH U-Net, per conv block (all conv weights of one block
at once), scored on a split's tiles by position and barcode accuracy (points lost).

Each command also takes --settings FILE, a sensitivity: section with config.yaml's keys
(how the workflow hands them over); its values replace the matching options.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from modelshrink.cli.settings_file import apply_settings_file
from modelshrink.errors import ModelshrinkError

log = logging.getLogger(__name__)

#: sensitivity: keys of a --settings file (config.yaml's names) -> option dests, per command
SETTINGS = {
    "scan": {
        "sparsities": "sparsities",
        "bits": "bits",
        "chunks": "chunks",
        "chunk_samples": "chunk_samples",
        "reads": "read_count",
        "read_samples": "read_samples",
    },
    "propose": {
        "budget_points": "budget_points",
        "chunks": "chunks",
        "chunk_samples": "chunk_samples",
        "verify_reads": "read_count",
        "read_samples": "read_samples",
    },
    "merfish": {"sparsities": "sparsities", "bits": "bits"},
}


#: (row key, panels (column, title), title) of each family's heatmap
BASECALLER_HEATMAP = (
    "tensor",
    [
        ("identity_loss_points", "read identity loss (points)"),
        ("kl_divergence", "KL to the original (per step)"),
    ],
    "Basecaller sensitivity: one tensor changed at a time, no fine-tuning",
)
MERFISH_HEATMAP = (
    "block",
    [
        ("position_accuracy_loss_points", "position accuracy loss (points)"),
        ("barcode_accuracy_loss_points", "barcode accuracy loss (points)"),
    ],
    "merFISH U-Net sensitivity: one conv block changed at a time, no fine-tuning",
)


def _write_scan(args: argparse.Namespace, rows: list, heatmap: tuple) -> None:
    """The scan TSV, and its heatmap when asked for."""
    from modelshrink.report.sensitivity_plots import plot_sensitivity
    from modelshrink.sensitivity.grid import write_rows

    write_rows(args.out, rows)
    if args.heatmap:
        row_key, panels, title = heatmap
        plot_sensitivity(rows, row_key, panels, title, args.heatmap)


def _grid_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", type=Path, required=True, help="scan TSV to write")
    parser.add_argument("--heatmap", type=Path, help="heatmap (SVG/PNG) to write")
    parser.add_argument(
        "--sparsities", type=float, nargs="+", default=[0.25, 0.5, 0.75], help="fractions pruned"
    )
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 6, 4], help="bit-widths")
    parser.add_argument("--threads", type=int, default=1, help="settings measured side by side")


def _data_arguments(parser: argparse.ArgumentParser, read_count: int) -> None:
    parser.add_argument("model", type=Path, help="fp32 basecaller (.safetensors)")
    parser.add_argument(
        "--chunks-from", type=Path, nargs="+", required=True, help="Taiyaki mapped-signal files"
    )
    parser.add_argument("--reads", type=Path, nargs="+", required=True, help="fast5/pod5 reads")
    parser.add_argument("--reference", type=Path, required=True, help="reference of the reads")
    parser.add_argument("--chunks", type=int, default=24, help="labelled chunks measured")
    parser.add_argument("--chunk-samples", type=int, default=2000, help="samples per chunk")
    parser.add_argument("--read-count", type=int, default=read_count, help="reads basecalled")
    parser.add_argument("--read-samples", type=int, default=20000, help="samples kept per read")


def _settings_argument(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help=f"JSON/YAML with a sensitivity: section ({', '.join(SETTINGS[kind])}, as in "
        "config.yaml); its values replace those options",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="WHAT")
    scan = kinds.add_parser("scan", help="basecaller scan: every weight matrix x grid")
    _data_arguments(scan, read_count=8)
    _grid_arguments(scan)
    scan.add_argument("--scheme", default="per_channel", help="per_channel or scale")
    _settings_argument(scan, "scan")
    propose = kinds.add_parser("propose", help="per-layer variant within a budget, verified")
    _data_arguments(propose, read_count=16)
    propose.add_argument("--scan", type=Path, required=True, help="scan TSV")
    budget = propose.add_mutually_exclusive_group()
    budget.add_argument("--budget-points", type=float, help="max read identity loss (points)")
    budget.add_argument("--target-ratio", type=float, help="times smaller than the original")
    propose.add_argument("-o", "--out", type=Path, required=True, help="config snippet (YAML)")
    propose.add_argument("--report", type=Path, help="proposal and verification (JSON)")
    propose.add_argument("--name", default="proposed", help="variant name in the snippet")
    _settings_argument(propose, "propose")
    merfish = kinds.add_parser("merfish", help="merFISH U-Net scan: every conv block x grid")
    merfish.add_argument("model", type=Path, help="trained float32 merFISH model")
    merfish.add_argument("--data", type=Path, required=True, help="merFISH dataset folder")
    merfish.add_argument("--split", default="val", help="split scored (default val)")
    _grid_arguments(merfish)
    _settings_argument(merfish, "merfish")


def _check(args: argparse.Namespace) -> None:
    if getattr(args, "threads", 1) < 1:
        raise ModelshrinkError("--threads must be at least 1")
    for path in [args.model, *getattr(args, "chunks_from", []), *getattr(args, "reads", [])]:
        if not path.exists():
            raise ModelshrinkError(f"{path} does not exist")
    if args.kind == "propose" and (args.budget_points is None) == (args.target_ratio is None):
        raise ModelshrinkError(
            "sensitivity propose: give one of --budget-points (or sensitivity.budget_points "
            "in --settings) and --target-ratio"
        )
    if getattr(args, "budget_points", None) is not None and args.budget_points <= 0:
        raise ModelshrinkError(f"--budget-points {args.budget_points}: expected > 0 points")
    if getattr(args, "target_ratio", None) is not None and args.target_ratio <= 1:
        raise ModelshrinkError(f"--target-ratio {args.target_ratio}: expected > 1")


def _meter(args: argparse.Namespace):
    from modelshrink.basecaller.network import Architecture, build_network
    from modelshrink.sensitivity.damage import (
        DamageMeter,
        DamageSettings,
        evaluation_chunks,
        read_subset,
    )
    from modelshrink.toolbox.storage import load_model

    stored = load_model(args.model)
    architecture = Architecture.from_dict(stored.architecture, str(args.model))
    stride = build_network(architecture).stride
    settings = DamageSettings(args.chunks, args.chunk_samples, args.read_count, args.read_samples)
    chunks = evaluation_chunks(args.chunks_from, settings, stride)
    reads = read_subset(args.reads, settings)
    return DamageMeter(architecture, stored.tensors, chunks, reads, args.reference)


def _scan(args: argparse.Namespace) -> int:
    from modelshrink.sensitivity.grid import ScanGrid
    from modelshrink.sensitivity.scan import scan_basecaller

    grid = ScanGrid(tuple(args.sparsities), tuple(args.bits), args.scheme)
    meter = _meter(args)
    log.info(
        "original: CRF loss %.4f on %d chunks, mean identity %.4f on %d reads",
        meter.crf_loss,
        meter.chunks.signal.shape[1],
        meter.read_identity,
        len(meter.reads),
    )
    _write_scan(args, scan_basecaller(meter, grid, args.threads), BASECALLER_HEATMAP)
    return 0


def _propose(args: argparse.Namespace) -> int:
    from modelshrink.sensitivity.grid import read_rows
    from modelshrink.sensitivity.propose import (
        points_per_kl,
        proposal_report,
        propose,
        write_proposal,
    )
    from modelshrink.sensitivity.scan import NUMERIC_COLUMNS

    rows = read_rows(args.scan, NUMERIC_COLUMNS)
    meter = _meter(args)
    proposal, spec = propose(rows, args.model, meter, args.budget_points, args.target_ratio)
    report = proposal_report(proposal, args.model, points_per_kl(rows))
    verified = proposal.verified
    goal = (
        f"at most {args.budget_points:g} points of read identity loss"
        if args.budget_points is not None
        else f"{args.target_ratio:g}x smaller"
    )
    header = [
        f"Proposed by `modelshrink sensitivity propose` from {args.scan} for {goal}.",
        f"Predicted loss {proposal.predicted_points:.3f} points; measured "
        f"{verified.identity_loss_points:.3f} points (mean identity of {len(meter.reads)} "
        f"reads), KL {verified.kl_divergence:.4f}; {proposal.file_bytes} bytes, "
        f"{report['ratio']:.2f}x smaller than the original.",
    ]
    write_proposal(args.out, args.name, spec, header)
    if args.report:
        from modelshrink.atomic import write_text_atomic

        write_text_atomic(args.report, json.dumps(report, indent=2) + "\n")
    print("\n".join(header))
    return 0


def _merfish(args: argparse.Namespace) -> int:
    from modelshrink.merfish.dataset import read_split
    from modelshrink.merfish.storage import load_merfish_model
    from modelshrink.sensitivity.grid import ScanGrid
    from modelshrink.sensitivity.merfish_scan import scan_merfish

    stored = load_merfish_model(args.model)
    if stored.variant != "float32":
        raise ModelshrinkError(f"{args.model}: a {stored.variant} model; expected float32")
    split = read_split(args.data, args.split)
    rows = scan_merfish(stored.module, split, ScanGrid(tuple(args.sparsities), tuple(args.bits)))
    _write_scan(args, rows, MERFISH_HEATMAP)
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    apply_settings_file(args, {"sensitivity": SETTINGS[args.kind]})
    _check(args)
    torch.set_num_threads(1)
    return {"scan": _scan, "propose": _propose, "merfish": _merfish}[args.kind](args)
