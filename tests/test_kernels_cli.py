"""`modelshrink kernels`: install.sh builds the C++ kernels before any workflow job."""

from __future__ import annotations

import shutil

import pytest

from modelshrink import cli
from modelshrink.basecaller import gru_extension
from modelshrink.merfish import int8_glue


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler on PATH")
def test_kernels_compile_on_a_machine_with_a_compiler(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["kernels"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "basecaller GRU (gru_steps.cpp): compiled",
        "merFISH int8 glue (int8_glue.cpp): compiled",
    ]


def test_kernels_that_cannot_compile_name_their_fallback_and_exit_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(gru_extension, "build_inline", lambda *args: None)
    monkeypatch.setattr(int8_glue, "build_inline", lambda *args: None)
    assert cli.main(["kernels"]) == 0
    output = capsys.readouterr().out
    assert output.count("not compiled, fallback in use") == 2
