"""The declared dependencies (pyproject.toml) are exactly the third-party packages the
code imports: an undeclared import breaks a fresh install, an unused declaration pulls
in packages for nothing."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: import name -> distribution name, where they differ (or the import comes with another)
DISTRIBUTION = {
    "yaml": "pyyaml",
    "vbz_h5py_plugin": "vbz-h5py-plugin",
    "snakemake_interface_executor_plugins": "snakemake",  # installed by snakemake
}
#: declared but used without an import statement, and why
USED_WITHOUT_IMPORT = {
    "setuptools": "torch.utils.cpp_extension compiles the fused GRU kernel with it",
    "snakemake-executor-plugin-slurm": "profiles/slurm selects the slurm executor",
}
#: the workflow's own package
OWN = {"modelshrink"}


def top_level_imports_of_python(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def top_level_imports_of_snakefile(path: Path) -> set[str]:
    """Snakemake files are not Python; their imports are plain `import`/`from` lines."""
    pattern = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
    return set(pattern.findall(path.read_text()))


def imported_distributions() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "src").rglob("*.py"):
        names |= top_level_imports_of_python(path)
    for path in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]:
        names |= top_level_imports_of_snakefile(path)
    third_party = names - set(sys.stdlib_module_names) - OWN - {"__future__"}
    return {DISTRIBUTION.get(name, name).lower() for name in third_party}


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()
        for requirement in project["dependencies"]
    }


def test_declared_dependencies_are_exactly_the_imported_ones():
    declared = declared_distributions()
    imported = imported_distributions()
    assert sorted(imported - declared) == [], "imported but not declared in pyproject.toml"
    unused = declared - imported - set(USED_WITHOUT_IMPORT)
    assert sorted(unused) == [], "declared in pyproject.toml but never imported"
    assert set(USED_WITHOUT_IMPORT) <= declared


def test_snakefile_import_scan_sees_the_workflow_imports():
    """The Snakemake-file scan finds what rules/common.smk imports (guards the regex)."""
    names = top_level_imports_of_snakefile(REPO / "rules" / "common.smk")
    assert {"jsonschema", "snakemake", "modelshrink"} <= names
