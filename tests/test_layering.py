"""The layer rules: engine/ never imports Qt, app/ never imports onnxruntime or numpy,
engine's layers (cli, serving, convert | generation | remote, documents, runtime, core)
import only downward, and engine/remote (HTTP to other servers) never loads onnxruntime,
numpy or local model code. The contracts live in pyproject.toml ``[tool.importlinter]``."""

from __future__ import annotations

import ast
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


def test_remote_backend_never_imports_onnxruntime_numpy_or_local_models():
    banned = {"onnxruntime", "numpy"}
    bad = [(f, m) for f, m in _imports("engine/remote")
           if _top(m) in banned or m.startswith(("engine.runtime", "engine.documents", "engine.generation",
                                                  "engine.convert", "engine.serving", "engine.cli"))]
    assert bad == []


def test_import_linter_contracts_hold():
    # Run through this interpreter, not a `lint-imports` found on PATH or beside it: the
    # check must run (never skip) wherever the test extra is installed, on this tree.
    pytest.importorskip("importlinter", reason="import-linter is not installed (pip install -e '.[test]')")
    script = ("import sys; from importlinter.cli import lint_imports_command; "
              "sys.argv[0] = 'lint-imports'; sys.exit(lint_imports_command())")
    result = subprocess.run([sys.executable, "-c", script, "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout, result.stdout[-3000:]
