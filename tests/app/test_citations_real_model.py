"""Citation chips on the real window and the real default model.

A six-page PDF is too long for the 1,024-token context, so retrieval sends the page that
answers the question; the reply's chip names that page, clicking it shows the exact text,
and after a restart the chat shows the same chips and the note of what was left out.

Set ``HEARTH_SCREENSHOTS=some/dir`` to also save ``citations.png`` (the reply with its chips
and an open source); for docs/citations.png run it under Xvfb:
``HEARTH_SCREENSHOTS=shots QT_QPA_PLATFORM=xcb xvfb-run -s "-screen 0 1280x800x24" pytest tests/app/test_citations_real_model.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from app.main_window import MainWindow
from app.state import AppState
from tests.helpers.make_pdf import write_pdf

pytestmark = pytest.mark.slow

CAT = "The harbour master's cat is named Biscuit."
QUESTION = "What is the harbour master's cat named?"
LEFT_OUT = "harbour-log.pdf: pages 1-2, 4-6 not included"


def _harbour_log(folder: Path) -> Path:
    # No filler word is in the question, so BM25 matches page 3 alone; each page (~180 tokens)
    # is a retrieval chunk of its own, too long to share one with a neighbour.
    def lines(n: int, count: int) -> list[str]:
        return [f"Survey {n}, entry {i}: rainfall totals from eleven coastal stations." for i in range(count)]

    pages = ["\n".join(lines(n, 12)) for n in range(1, 7)]
    pages[2] = "\n".join(lines(3, 6) + [CAT] + lines(3, 6))
    return write_pdf(folder / "harbour-log.pdf", pages)


def _ask(qtbot, w: MainWindow, text: str) -> None:
    done = w.replies_finished
    w.composer.edit.setFocus()
    qtbot.keyClicks(w.composer.edit, text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > done and w.state is AppState.IDLE, timeout=120_000)


def _chip(reply, label: str):
    return next(chip for chip in reply.citations.chips if chip.text() == label)


def test_a_cited_reply_shows_its_page_and_keeps_it_after_a_restart(qtbot, real_window, tmp_path):
    w = real_window
    w.attach_files([str(_harbour_log(tmp_path))])
    qtbot.waitUntil(lambda: bool(w.composer.ready_documents()), timeout=30_000)
    _ask(qtbot, w, QUESTION)

    reply = w.chat.messages[-1]
    assert reply.role == "assistant" and reply.citations.isVisible()
    assert [chip.text() for chip in reply.citations.chips] == ["harbour-log.pdf p. 3"]
    (source,) = reply.citations.sources
    # The chip cites what the prompt held, not what the model wrote.
    assert f"[harbour-log.pdf, p. 3]\n{source.text}" in w.bridge.engine.last_messages[-1]["content"]
    qtbot.mouseClick(_chip(reply, "harbour-log.pdf p. 3"), Qt.MouseButton.LeftButton)
    dialog = reply.citations.dialog
    assert dialog is not None and dialog.isVisible()
    assert (dialog.file_label.text(), dialog.range_label.text()) == ("harbour-log.pdf", "Page 3")
    assert CAT in dialog.text.toPlainText() and dialog.text.toPlainText() == source.text
    assert any(f"Left out: {LEFT_OUT}" in n.text for n in w.chat.notices)
    _screenshot(qtbot, w, dialog)

    # Restart on the same store: the same chips and the left-out note, from SQLite.
    conversation, shown = w.conversation_id, [(m.role, m.text) for m in w.chat.messages]
    dialog.close()
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    w2.conversations.select_row_of(conversation)
    assert [(m.role, m.text) for m in w2.chat.messages] == shown
    again = w2.chat.messages[-1]
    assert again.citations.sources == (source,) and [c.text() for c in again.citations.chips] == [
        "harbour-log.pdf p. 3"]
    assert [n.text for n in w2.chat.notices if "Left out" in n.text] == [
        "The attachments did not fit the context, so only their most relevant parts were used. Left out: " + LEFT_OUT]
    qtbot.mouseClick(_chip(again, "harbour-log.pdf p. 3"), Qt.MouseButton.LeftButton)
    assert again.citations.dialog is not None and CAT in again.citations.dialog.text.toPlainText()
    w2.close()


def _screenshot(qtbot, w: MainWindow, dialog) -> None:
    """The window with the open source drawn over its right side, as docs/citations.png shows it."""
    folder = os.environ.get("HEARTH_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    dialog.resize(520, 330)
    qtbot.wait(200)  # the last render tick of the reply
    picture = w.grab()
    card = dialog.grab()
    at = QPoint(picture.width() - card.width() - 24, 390)  # below the reply and its left-out note
    painter = QPainter(picture)
    painter.drawPixmap(at, card)
    painter.setPen(QPen(QColor("#6b7280"), 1))
    painter.drawRect(at.x(), at.y(), card.width() - 1, card.height() - 1)
    painter.end()
    picture.save(str(Path(folder) / "citations.png"))
