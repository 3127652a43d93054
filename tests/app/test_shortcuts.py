"""Issue 12, item 8: the keyboard shortcuts, and Help → Keyboard shortcuts listing them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.shortcuts import SHORTCUTS, ShortcutsDialog, key_text
from tests.app.test_chat_versions import CountingBackend, _wait_idle, press
from tests.app.test_window_fake import _load, _open, _send

CTRL = Qt.KeyboardModifier.ControlModifier


def test_ctrl_f_focuses_search_and_ctrl_q_quits(qtbot):
    w = _open(qtbot)
    press(qtbot, w, w.composer.edit, Qt.Key.Key_F, CTRL)
    assert QApplication.focusWidget() is w.conversations.search
    press(qtbot, w, w.composer.edit, Qt.Key.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=2000)
    assert getattr(w, "_shut", False)  # closed the normal way: the workers stopped, settings saved


def test_up_in_an_empty_composer_edits_the_last_message(qtbot):
    w = _open(qtbot)
    _load(qtbot, w)
    _send(qtbot, w, "first")
    _send(qtbot, w, "second")
    w.composer.set_text("draft")
    press(qtbot, w, w.composer.edit, Qt.Key.Key_Up)
    assert w.composer.editing_message is None  # not empty: Up moves the cursor
    w.composer.set_text("")
    press(qtbot, w, w.composer.edit, Qt.Key.Key_Up)
    assert w.composer.editing_message == w.chat.messages[2].message_id and w.composer.text() == "second"
    w.close()


def test_delete_removes_the_selected_chat_after_asking(qtbot):
    w = _open(qtbot)
    _load(qtbot, w)
    _send(qtbot, w, "keep me")
    w.chats.new_chat()
    _send(qtbot, w, "delete me")
    doomed = w.conversation_id
    asked = []
    w._confirm = lambda title, text: asked.append(text) or False
    w.conversations.list.setFocus()
    press(qtbot, w, w.conversations.list, Qt.Key.Key_Delete)
    assert asked and doomed in w.conversations.ids()  # declined: still there
    w._confirm = lambda title, text: True
    press(qtbot, w, w.conversations.list, Qt.Key.Key_Delete)
    assert doomed not in w.conversations.ids() and len(w.conversations.ids()) == 1
    assert w.conversation_id is None and w.chat.messages == []
    press(qtbot, w, w.composer.edit, Qt.Key.Key_Delete)  # in the composer Delete edits text, no more
    assert len(w.conversations.ids()) == 1
    w.close()


def test_ctrl_shift_c_copies_the_last_reply_and_ctrl_r_regenerates(qtbot):
    w = _open(qtbot, CountingBackend())
    _load(qtbot, w)
    _send(qtbot, w, "hi")
    QGuiApplication.clipboard().setText("")
    press(qtbot, w, w.composer.edit, Qt.Key.Key_C, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert QGuiApplication.clipboard().text() == "reply 1"
    press(qtbot, w, w.composer.edit, Qt.Key.Key_R, CTRL)
    _wait_idle(qtbot, w, 2)
    assert w.chat.messages[-1].text == "reply 2" and w.chat.messages[-1].version_label.text() == "2/2"
    w.close()


def test_help_lists_the_keyboard_shortcuts(qtbot):
    w = _open(qtbot)
    assert "Keyboard shortcuts" in [a.text() for m in w.menuBar().actions() for a in m.menu().actions()]
    w.shortcuts_action.trigger()
    dialog = w.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    rows = dict(dialog.rows())
    for keys in ("Ctrl+F", "Ctrl+Q", "Ctrl+R", "Ctrl+Shift+C", "Ctrl+N", "Up", "Del", "Esc"):
        assert key_text(keys) in rows, keys
    assert len(rows) == len(SHORTCUTS)
    dialog.close()
    w.close()
