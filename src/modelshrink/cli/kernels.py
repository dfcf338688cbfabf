"""Compile modelshrink's C++ kernels for this CPU now (install.sh runs this).

Without it the first basecall and the first merFISH int8 evaluation each compile one
(30-40 s of one core) inside a workflow job, on every machine and checkout path anew.
Prints one line per kernel: compiled, or the fallback that runs where it cannot be.
Exits 0 either way: every kernel has a slower fallback.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the kernels are the package's own."""


def run(args: argparse.Namespace) -> int:
    from modelshrink.basecaller.gru_extension import compiled_kernels
    from modelshrink.merfish.int8_glue import fused_glue

    kernels = {
        "basecaller GRU (gru_steps.cpp)": compiled_kernels() is not None,
        "merFISH int8 glue (int8_glue.cpp)": fused_glue() is not None,
    }
    for name, built in kernels.items():
        print(f"{name}: {'compiled' if built else 'not compiled, fallback in use'}")
    return 0
