"""Models → Browse catalogue on the real default model, served by a hub on 127.0.0.1: filter, download, load, answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from app.state import AppState
from engine.catalogue.entries import CATALOGUE_FILE
from engine.core import paths
from tests.helpers.local_hub import LocalHub

pytestmark = pytest.mark.slow
REPO = "local/SmolLM2-135M-Instruct"


@pytest.fixture
def hub_and_catalogue(default_model_dir: Path, tmp_path: Path, monkeypatch):
    files = sorted(p.name for p in default_model_dir.iterdir() if p.is_file())
    template = {**json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))["models"][-1], "subfolder": ""}
    small = {**template, "id": "smollm2-135m-local", "name": "SmolLM2 135M (local hub)", "repo": REPO, "files": files,
             "size_bytes": sum((default_model_dir / f).stat().st_size for f in files), "parameters": "135M"}
    huge = {**template, "id": "enormous", "name": "Enormous 900B", "size_bytes": 2**50, "parameters": "900B"}
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"version": 1, "models": [small, huge]}), encoding="utf-8")
    with LocalHub() as hub:
        hub.add(REPO, {name: (default_model_dir / name).read_bytes() for name in files})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # the pull runs as a child process, which inherits these
        monkeypatch.setenv("HEARTH_CATALOGUE", str(catalogue))
        yield hub


def test_browse_filter_download_with_progress_then_the_model_loads_and_answers(qtbot, hub_and_catalogue):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.settings.set_value("max_new_tokens", 8)
    w.browse_catalogue_action.trigger()
    dialog = w.catalogue_dialog
    assert dialog.table.rowCount() == 2
    assert "won't fit" in dialog.table.item(1, 4).text() and "won't fit" not in dialog.table.item(0, 4).text()
    dialog.table.selectRow(1)
    assert not dialog.download_button.isEnabled()  # too big for this machine
    dialog.fits_only.setChecked(True)
    assert [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())] == ["SmolLM2 135M (local hub)"]
    dialog.search.setText("nothing like it")
    assert dialog.table.rowCount() == 0
    dialog.search.setText("smollm2 135m")
    dialog.table.selectRow(0)
    fractions: list[float] = []
    w.models.job_progressed.connect(lambda _text, fraction: fractions.append(fraction))
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert w._progress is not None and "Downloading SmolLM2 135M" in w._progress.windowTitle()
    installed = paths.models_dir() / "smollm2-135m-local"
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=180_000)
    assert Path(w.loaded.info.path) == installed
    assert any(f is not None and 0 < f < 1 for f in fractions) and 1.0 in fractions  # progress, to the end
    assert w._progress is None  # the progress dialog closed
    count = w.replies_finished
    w.composer.edit.setFocus()
    qtbot.keyClicks(w.composer.edit, "Say hello.")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > count and w.state is AppState.IDLE, timeout=60_000)
    assert w.chat.messages[-1].role == "assistant" and w.chat.messages[-1].text.strip()
    w.shutdown()
