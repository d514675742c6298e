"""Imports run one way: connectors <- engine <- assets <- pipelines.

Read from the source with `ast`, so an import inside a function counts as much as one at
the top of a module: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each package may not import: the layers above it, and for the lower layers the
# frameworks they are kept free of.
FORBIDDEN = {
    "connectors": {"engine", "assets", "pipelines", "dagster", "duckdb"},
    "engine": {"assets", "pipelines", "dagster"},
    "assets": {"pipelines"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package):
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipelines.cli import main\n    import dagster.x\n")
    assert imported_packages(module) == {"pipelines", "dagster"}
