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


@pytest.fixture
def real_window(qtbot, real_model_dir: Path):
    """The real window with the default model loaded: short greedy replies, one thread for the engine."""
    from app.main_window import MainWindow
    from app.state import AppState

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    s = w.settings
    s.set_value("context_length", 1024)
    s.set_value("max_new_tokens", 24)
    s.set_value("temperature", 0.0)
    s.set_value("threads", 1)  # leave the second core to the GUI thread
    w.models.register_folder(str(real_model_dir))
    qtbot.waitUntil(lambda: str(real_model_dir) in w.picker.folders(), timeout=20_000)
    w.load_model(str(real_model_dir))
    qtbot.waitUntil(lambda: w.loaded is not None, timeout=60_000)
    assert w.state is AppState.IDLE and w.loaded is not None
    yield w
    w.shutdown()
