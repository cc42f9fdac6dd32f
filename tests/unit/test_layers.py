"""The package layers of docs/architecture.md: what each top-level package may import.

Libraries never import ``orchestration``, so each can be used and tested without Dagster; the
test reads every module's imports (without importing it) and names each that breaks the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MAY_IMPORT: dict[str, set[str]] = {
    "warehouse": {"ml"},
    "ingest": {"warehouse"},
    "serving": set(),
    "ml": set(),
    "data_quality": {"ingest", "warehouse"},
    "activation": {"warehouse"},
    "demo_data": {"ingest", "activation"},
    "reporting": {"warehouse", "activation", "data_quality"},
    "orchestration": {
        "warehouse",
        "ingest",
        "serving",
        "ml",
        "data_quality",
        "activation",
        "demo_data",
        "reporting",
    },
}
"""Each package of ours and the packages of ours it may import (see docs/architecture.md)."""


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_package_imports_only_lower_layers(package: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if (bad := _imported_packages(path) - MAY_IMPORT[package] - {package})
    ]
    assert not broken, f"{package} may import only {sorted(MAY_IMPORT[package])}:\n" + "\n".join(
        broken
    )


def test_every_package_is_placed_in_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(MAY_IMPORT), "add the new package to MAY_IMPORT and the docs"


def test_module_names_say_one_thing() -> None:
    # A file name names one role: the same name in two places must be a library module and
    # the thin Dagster wrapper of that same module (orchestration/defs/ml/churn.py wraps
    # ml/churn.py), never two different things.
    by_name: dict[str, list[Path]] = {}
    for package in MAY_IMPORT:
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "__init__.py":
                by_name.setdefault(path.name, []).append(path.relative_to(ROOT))
    clashes = []
    for name, paths in sorted(by_name.items()):
        libraries = [p for p in paths if p.parts[0] != "orchestration"]
        wrappers = [p for p in paths if p.parts[0] == "orchestration"]
        if len(libraries) > 1 or len(wrappers) > 1:
            clashes.append(f"{name}: {', '.join(map(str, paths))}")
    assert not clashes, "modules with one file name in several places:\n" + "\n".join(clashes)
