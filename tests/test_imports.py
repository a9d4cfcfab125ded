"""Every `from conprune... import name` in the package resolves, the lazy ones inside command
handlers included: a handler's import error would otherwise surface only when a user runs it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "conprune"


def test_every_internal_import_resolves() -> None:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("conprune")):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ModuleNotFoundError:
                        broken.append(f"{path.relative_to(PACKAGE.parent)}: {node.module}.{alias.name}")
    assert not broken, broken
