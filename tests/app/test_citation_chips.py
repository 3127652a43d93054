"""The chip row and the source dialog on their own: labels, wrapping, and what a click shows."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.chat_view import ChatView
from app.source_dialog import range_text
from engine.documents.sources import Source

SOURCES = (
    Source("gpl.pdf", "page", 4, 4, "Page four, as it went in."),
    Source("gpl.pdf", "page", 6, 7, "Pages six and seven."),
    Source("memo.docx", "paragraph", 2, 5, "Four paragraphs."),
    Source("a-file-name-far-too-long-for-any-chip-to-hold.md", "line", 10, 42, "Lines ten to forty-two."),
    Source("notes.txt", "line", 1, 3, "one\ntwo\nthree", whole=True),
)


def test_a_reply_shows_one_chip_per_source_and_a_click_shows_the_exact_text(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    reply = view.add_message(1, "assistant", "An answer.", "SmolLM2")
    qtbot.waitUntil(reply.isVisible, timeout=2000)
    assert reply.citations.isHidden()  # no sources, no row
    reply.citations.set_sources(SOURCES)
    assert reply.citations.isVisible()
    labels = [chip.text() for chip in reply.citations.chips]
    assert labels[:3] == ["gpl.pdf p. 4", "gpl.pdf pp. 6-7", "memo.docx paras. 2-5"]
    assert labels[3].endswith("… lines 10-42") and len(labels[3]) <= 36  # the name is cut, never the range
    assert labels[4] == "notes.txt (whole file)"
    # More chips than fit one row wrap onto the next instead of widening the message.
    qtbot.waitUntil(lambda: len({chip.y() for chip in reply.citations.chips}) == 2, timeout=2000)
    qtbot.mouseClick(reply.citations.chips[1], Qt.MouseButton.LeftButton)
    dialog = reply.citations.dialog
    assert dialog is not None and dialog.isVisible() and dialog.windowTitle() == "gpl.pdf pp. 6-7"
    assert (dialog.file_label.text(), dialog.range_label.text()) == ("gpl.pdf", "Pages 6-7")
    assert dialog.text.toPlainText() == "Pages six and seven." and dialog.text.isReadOnly()
    dialog.close()
    qtbot.waitUntil(lambda: reply.citations.dialog is None, timeout=2000)
    reply.citations.set_sources(())
    assert reply.citations.isHidden() and reply.citations.chips == []


def test_range_texts_name_the_unit():
    assert [range_text(s) for s in SOURCES] == [
        "Page 4", "Pages 6-7", "Paragraphs 2-5", "Lines 10-42", "The whole file (lines 1-3)"]
