"""After a PDF is read, its chunks are embedded on the jobs thread: the chip shows how far, removing it stops it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from app.main_window import MainWindow
from engine.documents.dense import installed_scorer
from engine.documents.vector_store import document_digest
from engine.runtime.embedder import embedder_dir as installed_embedder_dir
from tests.app.fakes import ScriptedBackend
from tests.helpers.make_pdf import write_pdf

pytestmark = pytest.mark.slow


@pytest.fixture
def window(qtbot, embedder_dir: Path):
    target = installed_embedder_dir()  # inside this test's fresh HEARTH_HOME
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(embedder_dir, target)
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    labels: list[str] = []
    w.composer.attachments_changed.connect(lambda: labels.extend(c.label.text() for c in w.composer._chips.values()))
    yield w, labels
    w.close()


def _pdf(tmp_path: Path, name: str) -> Path:
    pages = [f"Page {n} of the {name} log.\n" + "\n".join(f"Entry {n}.{i}: the {name} keeper writes the tide."
                                                            for i in range(40)) for n in range(1, 21)]
    return write_pdf(tmp_path / f"{name}.pdf", pages)


def test_the_chip_shows_the_embedding_and_the_vectors_are_stored(qtbot, window, tmp_path):
    w, labels = window
    w.attach_files([str(_pdf(tmp_path, "harbour"))])
    qtbot.waitUntil(lambda: bool(w.composer.ready_documents()), timeout=30_000)
    doc = w.composer.ready_documents()[0].document
    scorer = installed_scorer()
    assert scorer is not None and scorer.store is not None
    qtbot.waitUntil(lambda: scorer.store.count(document_digest(doc.text)) > 0, timeout=60_000)
    assert any("indexing" in label for label in labels)
    (chip,) = w.composer._chips.values()
    qtbot.waitUntil(lambda: "indexing" not in chip.label.text(), timeout=10_000)
    assert scorer.embedded == scorer.store.count(document_digest(doc.text))  # each chunk once, all stored


def test_removing_the_chip_while_it_is_embedded_stores_nothing(qtbot, window, tmp_path):
    w, labels = window
    w.attach_files([str(_pdf(tmp_path, "lighthouse"))])
    qtbot.waitUntil(lambda: any("indexing" in label for label in labels), timeout=60_000)
    doc = w.composer.ready_documents()[0].document
    (chip,) = w.composer._chips.values()
    qtbot.mouseClick(chip.findChild(QToolButton), Qt.MouseButton.LeftButton)
    qtbot.wait(3_000)  # the jobs thread sees the cancel at its next batch
    assert installed_scorer().store.count(document_digest(doc.text)) == 0
