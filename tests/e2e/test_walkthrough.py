"""A new user's first session, scripted on the real window and the real default model.

First start on an empty HEARTH_HOME, install, load, ask, stop, regenerate and browse the
versions, edit then Esc, attach a text file, restart: the history is intact.

Runs offscreen under pytest and never skips. Set ``HEARTH_SCREENSHOTS=some/dir`` to also save a
PNG of the window at each step; for pictures of the real window system, run it under Xvfb:
``HEARTH_SCREENSHOTS=shots QT_QPA_PLATFORM=xcb xvfb-run -s "-screen 0 1280x800x24" pytest tests/e2e/test_walkthrough.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

REPLY_TIMEOUT_MS = 120_000


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


class Shots:
    def __init__(self) -> None:
        folder = os.environ.get("HEARTH_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def take(self, qtbot, window, name: str) -> None:
        if self.folder is None:
            return
        qtbot.wait(150)  # let the chat render its last timer tick
        self.n += 1
        window.grab().save(str(self.folder / f"{self.n:02d}-{name}.png"))


def _press(qtbot, w, widget, key) -> None:
    # Window-level shortcuts (Esc) need the window active. The offscreen platform can
    # drop activation while a reply streams (no window manager gives it back), so the
    # test makes the window active the way a click on it would.
    w.activateWindow()
    if QApplication.activeWindow() is not w:
        QApplication.setActiveWindow(w)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    qtbot.keyClick(widget, key)


def _ask(qtbot, w, text: str) -> None:
    n = w.replies_finished
    w.composer.set_text(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    _wait_reply(qtbot, w, n + 1)


def _wait_reply(qtbot, w, n: int) -> None:
    from app.state import AppState

    qtbot.waitUntil(lambda: w.replies_finished >= n and w.state is AppState.IDLE, timeout=REPLY_TIMEOUT_MS)


def test_first_session_from_install_to_restart(qtbot, empty_home, default_model_dir, tmp_path):
    from app.main_window import MainWindow
    from app.state import AppState
    from engine.core import paths

    shots = Shots()
    # First start: no models, the welcome card.
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w._welcome is not None and w._welcome.isVisible() and w.picker.folders() == []
    assert not w.composer.send_button.isEnabled()
    shots.take(qtbot, w, "first-start")

    # Install. The default model was already converted once for the test session; rather than
    # downloading and converting it again, it is linked into this home's models folder, and
    # the welcome card's Install button then finds it installed and loads it.
    paths.models_dir().mkdir(parents=True, exist_ok=True)
    (paths.models_dir() / default_model_dir.name).symlink_to(default_model_dir, target_is_directory=True)
    w._welcome.install_button.click()
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=REPLY_TIMEOUT_MS)
    assert w._welcome is None and w.loaded.info.name == default_model_dir.name
    w.settings_panel.set_value("max_new_tokens", 24)  # short replies keep the walk quick

    # Ask.
    _ask(qtbot, w, "Name three colours.")
    assert [m.role for m in w.chat.messages] == ["user", "assistant"] and w.chat.messages[1].text.strip()
    shots.take(qtbot, w, "asked")

    # Stop a long reply with Esc.
    w.settings_panel.set_value("max_new_tokens", 400)
    n = w.replies_finished
    w.composer.set_text("Write a long story about a lighthouse keeper.")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state is AppState.GENERATING, timeout=REPLY_TIMEOUT_MS)
    _press(qtbot, w, w.composer.edit, Qt.Key.Key_Escape)
    _wait_reply(qtbot, w, n + 1)
    assert w.last_finished.finish_reason == "cancelled" and "stopped" in w.chat.messages[-1].footer.text()
    w.settings_panel.set_value("max_new_tokens", 24)

    # Regenerate, and browse the versions.
    first_version = w.chat.messages[-1].text
    w.chat.messages[-1].regenerate_button.click()
    _wait_reply(qtbot, w, n + 2)
    reply = w.chat.messages[-1]
    assert reply.version_label.isVisible() and reply.version_label.text() == "2/2"
    shots.take(qtbot, w, "regenerated-2-of-2")
    reply.previous_button.click()
    assert w.chat.messages[-1].text == first_version and w.chat.messages[-1].version_label.text() == "1/2"
    shots.take(qtbot, w, "browsed-1-of-2")
    w.chat.messages[-1].next_button.click()
    assert w.chat.messages[-1].version_label.text() == "2/2"

    # Edit, then Esc: nothing changes.
    before = [(m.role, m.text) for m in w.chat.messages]
    w.chat.messages[0].edit_button.click()
    assert w.composer.editing_message is not None and w.composer.text() == "Name three colours."
    shots.take(qtbot, w, "editing")
    _press(qtbot, w, w.composer.edit, Qt.Key.Key_Escape)
    assert w.composer.editing_message is None and w.composer.text() == ""
    assert [(m.role, m.text) for m in w.chat.messages] == before

    # Attach a small text file and ask about it.
    notes = tmp_path / "notes.txt"
    notes.write_text("The secret word is marmalade.\n", encoding="utf-8")
    w.attach_files([str(notes)])
    qtbot.waitUntil(lambda: bool(w.composer.ready_documents()), timeout=REPLY_TIMEOUT_MS)
    shots.take(qtbot, w, "attached")
    _ask(qtbot, w, "What is the secret word?")
    assert w.chat.messages[-2].role == "user" and "notes.txt" in w.chat.messages[-2].findChild(
        type(w.chat.messages[-2].version_label), "AttachmentLine").text()
    shots.take(qtbot, w, "answered-with-attachment")

    # Restart on the same home: the history, its versions and its attachment are intact.
    conversation = w.conversation_id
    shown = [(m.role, m.text) for m in w.chat.messages]
    w.store.writer.flush(10)
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    assert w2.conversations.ids() == [conversation]
    w2.conversations.select_row_of(conversation)
    assert [(m.role, m.text) for m in w2.chat.messages] == shown
    assert w2.chat.messages[3].version_label.text() == "2/2"
    assert w2.store.messages(conversation)[4].attachments[0].text.startswith("The secret word is marmalade.")
    shots.take(qtbot, w2, "after-restart")
    w2.close()
