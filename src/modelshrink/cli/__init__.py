"""`modelshrink` command line: one module per subcommand, as in ONT's bonito.

Each subcommand module provides a docstring (its help text), `add_arguments(parser)`
and `run(args) -> int`. Heavy imports (torch, pysam) happen inside `run` so that
`modelshrink --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Iterator

from modelshrink.errors import ModelshrinkError
from modelshrink.version import package_version

SUBCOMMANDS = {
    "identity": "modelshrink.cli.identity",
    "evaluate": "modelshrink.cli.evaluate",
    "call": "modelshrink.cli.call",
    "fetch": "modelshrink.cli.fetch",
    "convert": "modelshrink.cli.convert",
    "export": "modelshrink.cli.export",
    "basecall": "modelshrink.cli.basecall",
    "timing": "modelshrink.cli.timing",
    "merfish": "modelshrink.cli.merfish",
    "simulate": "modelshrink.cli.simulate",
    "compress": "modelshrink.cli.compress",
    "report": "modelshrink.cli.report",
    "sensitivity": "modelshrink.cli.sensitivity",
    "kernels": "modelshrink.cli.kernels",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelshrink",
        description="Prune and quantize scientific neural networks and measure the cost.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        sub = commands.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """SIGTERM (a cancelled or timed-out job) unwinds like an error, so every `finally`
    runs and no temporary output is left behind; the default handler would just stop."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; the caller owns signals then
        return
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(arguments)
    args.command_line = shlex.join(["modelshrink", *arguments])  # BAM @PG CL
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[modelshrink %(levelname)s] %(message)s",
        stream=sys.stderr,
    )
    try:
        with sigterm_exits():
            return args.run(args)
    except ModelshrinkError as error:
        message = " ".join(str(error).split())  # one line, even when a cause spans several
        print(f"modelshrink {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("modelshrink: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
