"""Who may import whom (docs/ARCHITECTURE.md), read from the imports in src/ with ast.

A model family never imports the other family, and the toolbox and the shared base
modules import no family, so adding a family or changing one cannot break the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "modelshrink"
FAMILIES = ("basecaller", "merfish")
#: the base modules every package may use; they import only each other
BASE = ("errors", "atomic", "cpu_features", "native_build", "fetch", "version")


def imported_modules(path: Path) -> set[str]:
    """Every modelshrink module `path` imports, at any depth (function-local imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "modelshrink"}


def top_package(module: str) -> str:
    """`modelshrink.basecaller.compress.spec` -> `basecaller`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def package_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def forbidden_imports(source: str, forbidden: set[str]) -> list[str]:
    """`file: module` for every import by a file of `source` of a forbidden package."""
    return [
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if package_of(path) == source
        for module in sorted(imported_modules(path))
        if top_package(module) in forbidden
    ]


ALL_PACKAGES = {package_of(path) for path in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_imports_neither_the_other_family_nor_the_layers_above(family: str) -> None:
    above = {"cli", "report", "simulate", "workflow", "sensitivity"}
    other = set(FAMILIES) - {family}
    assert forbidden_imports(family, other | above) == []


def test_the_toolbox_imports_no_family() -> None:
    allowed = {"toolbox", *BASE}
    assert forbidden_imports("toolbox", ALL_PACKAGES - allowed) == []


@pytest.mark.parametrize("module", BASE)
def test_base_modules_import_only_base_modules(module: str) -> None:
    assert forbidden_imports(module, ALL_PACKAGES - set(BASE)) == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The parser finds imports at module level and inside functions, aliased or not."""
    source = tmp_path / "example.py"
    source.write_text(
        "from modelshrink.merfish import storage as merfish_storage\n"
        "def load():\n    import modelshrink.basecaller.network\n"
    )
    modules = imported_modules(source)
    assert {top_package(module) for module in modules} == {"merfish", "basecaller"}


def test_every_package_is_known() -> None:
    """A new top-level package must be placed in docs/ARCHITECTURE.md and here."""
    known = {*FAMILIES, *BASE, "toolbox", "cli", "report", "simulate", "evaluate"}
    known |= {"calling", "workflow", "sensitivity", "__init__"}
    assert known >= ALL_PACKAGES, ALL_PACKAGES - known
