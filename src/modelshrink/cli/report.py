"""Workflow report: model size/cost, the summary table and its plots.

  modelshrink report model MODEL.safetensors -o STATS.json
  modelshrink report summary --manifest JSON -o results/summary.tsv
  modelshrink report plots --summary results/summary.tsv --manifest JSON \\
      --read-identity-plot a.svg --pareto-plot b.svg --change-plot c.svg --f1-plot d.svg
  modelshrink report merfish --manifest JSON --reference TRAINED.safetensors \\
      -o results/merfish/summary.tsv
  modelshrink report merfish-plots --summary results/merfish/summary.tsv \\
      --size-plot a.svg --speed-plot b.svg --curves results/merfish/evaluation/*.tsv \\
      --curves-plot c.png

The workflow passes each manifest as --settings FILE (rules/settings.smk).

The manifest is a JSON list (or @FILE holding one) with, per variant x sample, the
files each stage wrote: variant, sample, stats, speed (the basecall job's summary),
timing (the `modelshrink timing` table), read_identity, read_identity_table,
assembly_draft, assembly_polished, assembly_polished_pieces, evaluation (null: no
truth), compress_report (the variant's `compress --report` JSON, whose tuned_on becomes
a column; null or absent for the original) and optionally real_read_identity_table (the
real reads' per-read table). Each variant's change against the original (same sample)
comes with a 95 % bootstrap interval from --resamples resamples (fixed seed: the same
inputs, the same table).
The merFISH manifest is a JSON list (or @FILE) with, per variant: variant, method, compress
(the `merfish compress --summary` JSON) and evaluation (the `merfish evaluate --out` JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from modelshrink.errors import ModelshrinkError

log = logging.getLogger(__name__)

#: bootstrap resamples per 95 % interval (percentile intervals; the seed is fixed)
DEFAULT_RESAMPLES = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="WHAT")
    model = kinds.add_parser("model", help="bytes, non-zeros and MACs of one model file")
    model.add_argument("model", type=Path, help="modelshrink .safetensors file")
    model.add_argument("-o", "--output", type=Path, required=True, help="stats JSON")
    summary = kinds.add_parser("summary", help="results/summary.tsv from a manifest")
    add_manifest_arguments(summary, "rows")
    summary.add_argument("-o", "--output", type=Path, required=True, help="summary TSV")
    summary.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples per interval (default {DEFAULT_RESAMPLES})",
    )
    plots = kinds.add_parser(
        "plots", help="read identity, size vs accuracy, change vs original and F1 plots"
    )
    plots.add_argument("--summary", type=Path, required=True, help="summary TSV")
    add_manifest_arguments(plots, "rows")
    plots.add_argument("--read-identity-plot", type=Path, required=True)
    plots.add_argument("--pareto-plot", type=Path, required=True)
    plots.add_argument("--change-plot", type=Path, required=True)
    plots.add_argument("--f1-plot", type=Path, required=True)
    merfish = kinds.add_parser("merfish", help="results/merfish/summary.tsv from a manifest")
    add_manifest_arguments(merfish, "variants")
    merfish.add_argument(
        "--reference",
        type=Path,
        help="trained float32 model: the size baseline when no variant has method float32",
    )
    merfish.add_argument("-o", "--output", type=Path, required=True, help="summary TSV")
    merfish_plots = kinds.add_parser(
        "merfish-plots", help="merFISH size vs accuracy, time per tile and PR/ROC plots"
    )
    merfish_plots.add_argument("--summary", type=Path, help="merFISH summary TSV")
    merfish_plots.add_argument("--size-plot", type=Path, help="needs --summary")
    merfish_plots.add_argument("--speed-plot", type=Path, help="needs --summary")
    merfish_plots.add_argument(
        "--curves", type=Path, nargs="+", default=[], help="`merfish evaluate --curves` TSVs"
    )
    merfish_plots.add_argument("--curves-plot", type=Path, help="PR/ROC figure (PNG)")


def add_manifest_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--manifest (inline JSON or @FILE) or --settings (the workflow's settings file, whose
    manifest: key holds the list)."""
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--manifest", help=f"JSON list of {what}, or @FILE")
    given.add_argument("--settings", type=Path, help="JSON/YAML file with a manifest: list")


def _manifest_text(args: argparse.Namespace) -> str:
    if args.settings is not None:
        from modelshrink.cli.settings_file import read_settings_file

        return json.dumps(read_settings_file(args.settings).get("manifest"))
    value = args.manifest
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text()
    except OSError as error:
        raise ModelshrinkError(f"--manifest: cannot read {value[1:]}: {error.strerror}") from error


def run(args: argparse.Namespace) -> int:
    if args.kind == "model":
        from modelshrink.report.model_stats import write_model_stats

        stats = write_model_stats(args.model, args.output)
        log.info(
            "%s: %d bytes, %d parameters (%d non-zero)",
            args.model,
            stats["bytes"],
            stats["parameters"],
            stats["nonzero_parameters"],
        )
        return 0
    if args.kind in ("merfish", "merfish-plots"):
        return _run_merfish(args)
    from modelshrink.report import summary

    manifest = summary.parse_manifest(_manifest_text(args))
    if args.kind == "summary":
        if args.resamples < 1:
            raise ModelshrinkError(f"--resamples must be at least 1, got {args.resamples}")
        rows = summary.build_summary(manifest, args.resamples)
        summary.write_summary(rows, args.output)
        log.info("wrote %d rows to %s", len(rows), args.output)
        return 0
    from modelshrink.report import plots

    rows = summary.read_summary(args.summary)
    plots.plot_read_identity(manifest, args.read_identity_plot)
    plots.plot_size_vs_accuracy(rows, args.pareto_plot)
    plots.plot_identity_change(rows, args.change_plot)
    plots.plot_f1(rows, args.f1_plot)
    log.info(
        "wrote %s, %s, %s, %s",
        args.read_identity_plot,
        args.pareto_plot,
        args.change_plot,
        args.f1_plot,
    )
    return 0


def _run_merfish(args: argparse.Namespace) -> int:
    from modelshrink.report import merfish_summary

    if args.kind == "merfish":
        manifest = merfish_summary.parse_manifest(_manifest_text(args))
        rows = merfish_summary.build_summary(manifest, args.reference)
        merfish_summary.write_summary(rows, args.output)
        log.info("wrote %d merFISH variants to %s", len(rows), args.output)
        return 0
    from modelshrink.report import merfish_plots

    if bool(args.curves) != bool(args.curves_plot):
        raise ModelshrinkError("give --curves and --curves-plot together")
    if (args.summary is None) != (args.size_plot is None) or (
        (args.size_plot is None) != (args.speed_plot is None)
    ):
        raise ModelshrinkError("give --summary, --size-plot and --speed-plot together")
    if args.summary is None and not args.curves:
        raise ModelshrinkError("nothing to plot: give --summary and/or --curves")
    if args.summary is not None:
        rows = merfish_summary.read_summary(args.summary)
        merfish_plots.plot_size_vs_accuracy(rows, args.size_plot)
        merfish_plots.plot_speed(rows, args.speed_plot)
        log.info("wrote %s, %s", args.size_plot, args.speed_plot)
    if args.curves:
        merfish_plots.plot_curves(merfish_plots.read_curves(args.curves), args.curves_plot)
        log.info("wrote %s", args.curves_plot)
    return 0
