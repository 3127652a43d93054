"""GUI tests run offscreen, each with a fresh HEARTH_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


@pytest.fixture
def real_model_dir(default_model_dir: Path) -> Path:
    """The converted default model, from the session fixture in tests/conftest.py."""
    return default_model_dir
