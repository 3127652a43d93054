"""Child Pythons never import from the working directory or the source folder.

A checkpoint folder is untrusted: a ``torch.py`` in it (or in whatever folder the
user runs ``hearth-cli`` from) must not run in the converter's children. Each trap
here writes a marker file when imported; the tests check no marker appears.

These tests need ``engine`` importable by an isolated child (``python -I``), i.e.
the Hearth under test installed in ``sys.executable``'s environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.convert import child_process
from tests.helpers.checkpoints import broken_llama

REPO = Path(__file__).resolve().parents[2]


def _isolated_engine_file() -> str:
    out = subprocess.run([sys.executable, "-I", "-c", "import engine; print(engine.__file__)"],
                         capture_output=True, text=True, cwd="/", timeout=60)
    return out.stdout.strip()


requires_installed_engine = pytest.mark.skipif(
    Path(_isolated_engine_file() or "/nonexistent").resolve().parent.parent != REPO,
    reason="the engine under test is not what `python -I` imports (install it: pip install -e .)",
)


def _plant_traps(folder: Path, markers: Path, tag: str) -> None:
    """Modules that record being imported, under names the children import."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("torch", "transformers", "onnxruntime_genai", "pip", "engine"):
        code = f"open({str(markers / f'{tag}-{name}')!r}, 'w').close()\n"
        if name == "engine":  # a package, so ``-m engine.cli`` would pick it up
            (folder / "engine").mkdir(exist_ok=True)
            (folder / "engine" / "__init__.py").write_text(code)
        else:
            (folder / f"{name}.py").write_text(code)




def test_python_module_command_is_isolated(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    _plant_traps(tmp_path / "cwd", markers, "cwd")
    _plant_traps(tmp_path / "pythonpath", markers, "pythonpath")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "pythonpath")}
    result = child_process.run(child_process.python_module("torch"), cwd=tmp_path / "cwd", env=env,
                               capture_output=True, text=True, timeout=300)
    assert sorted(p.name for p in markers.iterdir()) == [], result.stderr


@requires_installed_engine
@pytest.mark.parametrize("layout", ["cwd-and-source", "convert-dot"])
def test_convert_children_ignore_cwd_and_source_folder(tmp_path: Path, layout: str) -> None:
    pytest.importorskip("onnxruntime_genai")
    cli = Path(sys.executable).parent / "hearth-cli"
    if not cli.exists():
        pytest.skip("hearth-cli is not installed beside this Python")
    markers = tmp_path / "markers"
    markers.mkdir()
    src = broken_llama(tmp_path / "checkpoint")
    _plant_traps(src, markers, "source")
    if layout == "convert-dot":
        cwd, arg = src, "."
    else:
        cwd, arg = tmp_path / "elsewhere", str(src)
        _plant_traps(cwd, markers, "cwd")
    out = tmp_path / "out"
    result = subprocess.run([str(cli), "convert", arg, "--out", str(out)], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "HEARTH_HOME": str(tmp_path / "home")}, timeout=600)
    assert sorted(p.name for p in markers.iterdir()) == []
    # It got as far as the builder (which then rejects the fake weights), cleanly.
    assert result.returncode == 2, result.stderr
    assert "error: The ONNX Runtime GenAI builder failed" in result.stderr
    assert not out.exists()
