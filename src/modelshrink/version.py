"""The installed package's version, as `modelshrink --version` and BAM @PG VN report it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: reported when the sources run without being installed (PYTHONPATH=src)
UNINSTALLED = "0+unknown"


def package_version() -> str:
    try:
        return version("modelshrink")
    except PackageNotFoundError:
        return UNINSTALLED
