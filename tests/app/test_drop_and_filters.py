"""Issue 12, item 9: a highlight while files are dragged over the window; attach dialog filters per type."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.drop_overlay import document_filters
from app.main_window import MainWindow
from tests.app.fakes import ScriptedBackend


def _mime(path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


def test_highlight_while_a_file_is_dragged_over_the_window(qtbot, tmp_path):
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    doc = tmp_path / "notes.txt"
    doc.write_text("hello")
    mime = _mime(doc)
    assert not w.drop_overlay.isVisible()
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    assert w.drop_overlay.isVisible() and w.drop_overlay.geometry() == w.rect()
    QApplication.sendEvent(w, QDragLeaveEvent())
    assert not w.drop_overlay.isVisible()
    QApplication.sendEvent(w, QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert w.drop_overlay.isVisible()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, drop)
    assert not w.drop_overlay.isVisible()
    assert [a.name for a in w.composer.attachments.values()] == ["notes.txt"]  # the drop itself still works
    w.close()


def test_plain_text_drags_do_not_light_up(qtbot):
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    mime = QMimeData()
    mime.setText("just text")
    QApplication.sendEvent(w, QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert not w.drop_overlay.isVisible()
    w.close()


def test_attach_dialog_has_a_filter_per_document_type(qtbot, monkeypatch):
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    seen = {}

    def fake_dialog(parent, caption, folder="", filters=""):
        seen["filters"] = filters
        return [], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    w._on_composer_attach_requested()
    names = [f.split(" (")[0] for f in seen["filters"].split(";;")]
    assert names == ["All supported documents", "PDF", "Word", "Plain text", "Markdown", "HTML", "CSV and TSV",
                     "JSON", "Source code", "All files"]
    assert seen["filters"] == document_filters()
    assert "PDF (*.pdf)" in seen["filters"] and "Word (*.docx)" in seen["filters"]
    first = seen["filters"].split(";;")[0]
    assert "*.pdf" in first and "*.docx" in first and "*.md" in first and "*.py" in first
    w.close()
