"""The package's layers: imports only run config <- components <- offline | dr, config <- release (and the CLI over all)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT, parse_python

PACKAGE = ROOT / "mercur"
# What each layer may import from the package, besides itself.
ALLOWED = {"config": set(), "components": {"config"}, "offline": {"config", "components"},
           "dr": {"config", "components"}, "release": {"config"}}


def _imports(path: Path) -> set[str]:
    """The package layers a module imports (absolute `mercur.x` or relative `..x`)."""
    layers: set[str] = set()
    for node in ast.walk(parse_python(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("mercur."):
                layers.add(node.module.split(".")[1])
            elif node.level == 2:
                layers.add((node.module or "").split(".")[0] or next(a.name for a in node.names))
        elif isinstance(node, ast.Import):
            layers |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mercur.")}
    return layers


def test_every_module_sits_in_a_layer_and_imports_only_below_it() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE]
    assert {p.relative_to(PACKAGE).parts[0] for p in modules} == set(ALLOWED)
    for path in modules:
        layer = path.relative_to(PACKAGE).parts[0]
        wrong = _imports(path) - ALLOWED[layer] - {layer}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_config_knows_nothing_of_pulumi_resources() -> None:
    for path in (PACKAGE / "config").rglob("*.py"):
        tree = parse_python(path.read_text())
        top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top_level if isinstance(n, ast.Import) for a in n.names} | \
                {n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)}
        assert not any(name.split(".")[0].startswith("pulumi") for name in names), path
