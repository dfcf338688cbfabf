"""Shared test fixtures.

Real test data (five R9.4.1 reads, the pretrained Taiyaki checkpoint, mapped-signal
files) lives outside the repository. Tests find it through one place: the
MODELSHRINK_TEST_DATA environment variable, or `../shared/data` beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _test_data_dir() -> Path:
    configured = os.environ.get("MODELSHRINK_TEST_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it skip with the reason when absent."""
    folder = _test_data_dir()
    if not (folder / "taiyaki").is_dir():
        pytest.skip(f"real test data not found at {folder} (set MODELSHRINK_TEST_DATA)")
    return folder


@pytest.fixture(scope="session")
def taiyaki_checkpoint(shared_data: Path) -> Path:
    return shared_data / "taiyaki" / "models" / "mGru_flipflop_remapping_model_r9_DNA.checkpoint"


@pytest.fixture(scope="session")
def seed_checkpoint(shared_data: Path) -> Path:
    return shared_data / "seed_checkpoint" / "original.checkpoint"


@pytest.fixture(scope="session")
def converted_model(tmp_path_factory: pytest.TempPathFactory, taiyaki_checkpoint: Path) -> Path:
    """The pretrained checkpoint converted by `modelshrink convert`: the original variant."""
    from modelshrink.cli import main

    output = tmp_path_factory.mktemp("model") / "original.safetensors"
    assert main(["convert", str(taiyaki_checkpoint), str(output)]) == 0
    return output
