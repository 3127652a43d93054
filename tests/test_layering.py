"""The layer rule: engine/ never imports Qt, app/ never imports onnxruntime or numpy."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> list[tuple[str, str]]:
    found = []
    for file in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(str(file.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(file.relative_to(ROOT)), node.module))
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_engine_never_imports_qt_or_app():
    bad = [(f, m) for f, m in _imports("engine") if _top(m) in {"PySide6", "shiboken6", "PyQt5", "PyQt6", "app"}]
    assert bad == []


def test_app_never_imports_onnxruntime_or_numpy():
    bad = [(f, m) for f, m in _imports("app") if _top(m) in {"onnxruntime", "numpy"}]
    assert bad == []


def test_import_linter_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([str(exe if exe.exists() else "lint-imports")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
