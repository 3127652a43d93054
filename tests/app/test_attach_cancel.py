"""Removing a chip while its document is still being read cancels the extraction."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

import engine.documents
from app.main_window import MainWindow
from tests.app.fakes import ScriptedBackend


def test_removing_a_reading_chip_cancels_its_extraction(qtbot, tmp_path, monkeypatch):
    real_extract = engine.documents.extract
    started, finished, seen = threading.Event(), threading.Event(), {}

    def held_extract(path, progress=None, cancel=None, **kwargs):
        # Hold the real extraction until the GUI cancels (or 10 s pass), so the chip is
        # surely still "reading" when it is removed; then let the real reader see the event.
        seen["cancel"] = cancel
        started.set()
        try:
            cancel.wait(10)
            return real_extract(path, progress, cancel, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(engine.documents, "extract", held_extract)
    path = tmp_path / "notes.txt"
    path.write_text("Some notes about the garden.\n" * 100, encoding="utf-8")
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    w.attach_files([str(path)])
    assert started.wait(10)
    (chip,) = w.composer._chips.values()
    assert "reading" in chip.label.text()
    qtbot.mouseClick(chip.findChild(QToolButton), Qt.MouseButton.LeftButton)
    assert seen["cancel"].wait(5), "removing the chip did not cancel the extraction"
    # Let the jobs thread finish; nothing may come back as a chip or an error.
    assert finished.wait(10)
    qtbot.wait(200)  # queued signals from the jobs thread, if any, arrive
    assert w.composer._chips == {} and w.composer.attachments == {}
    assert not any("Could not attach" in n.text for n in w.chat.notices)
    w.close()
