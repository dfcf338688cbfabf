"""Download (or copy) a model or data file and verify its sha256.

Used by the workflow to bring in the pretrained checkpoint, the real evaluation reads and
the mapped-signal training files named in config/config.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="URL or local path")
    parser.add_argument("output", type=Path, help="where to write the file")
    parser.add_argument("--sha256", help="expected checksum; mismatch is an error")


def run(args: argparse.Namespace) -> int:
    from modelshrink.fetch import fetch

    print(f"{fetch(args.source, args.output, args.sha256)}  {args.output}")
    return 0
