"""Issue 12, items 1, 2, 3 and 10: edits and regenerations branch, Esc cancels an edit,
stale figures and labels are cleared, Continue carries on a reply in the same message."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.state import AppState
from tests.app.fakes import ScriptedBackend
from tests.app.test_window_fake import _load, _open, _send


class CountingBackend(ScriptedBackend):
    """Each reply says which one it is, so versions can be told apart."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.replies = 0

    def _events(self, cancel, on_prefill):
        self.replies += 1
        self.words = [f"reply {self.replies}"]
        yield from super()._events(cancel, on_prefill)


def press(qtbot, w, widget, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key as the user types it: window shortcuts only fire in the active window."""
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=2000)
    qtbot.keyClick(widget, key, modifier)


def _shown(w) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in w.chat.messages]


def _wait_idle(qtbot, w, finished: int) -> None:
    qtbot.waitUntil(lambda: w.replies_finished >= finished and w.state is AppState.IDLE, timeout=5000)


def test_esc_cancels_an_edit_and_the_next_question_is_added_not_replacing(qtbot):
    w = _open(qtbot, CountingBackend())
    _load(qtbot, w)
    _send(qtbot, w, "first question")
    _send(qtbot, w, "second question")
    w.chat.messages[0].edit_button.click()
    assert w.composer.editing_message == w.chat.messages[0].message_id
    assert w.composer.text() == "first question"
    press(qtbot, w, w.composer.edit, Qt.Key.Key_Escape)  # the window's own Esc shortcut must not swallow it
    assert w.composer.editing_message is None and not w.composer.edit_banner.isVisible()
    assert w.composer.text() == ""
    _send(qtbot, w, "third question")
    assert [t for r, t in _shown(w) if r == "user"] == ["first question", "second question", "third question"]
    w.close()


def test_an_edit_branches_and_the_old_turns_stay_as_version_one(qtbot):
    w = _open(qtbot, CountingBackend())
    _load(qtbot, w)
    _send(qtbot, w, "first question")
    _send(qtbot, w, "second question")
    cid = w.conversation_id
    w.chats.edit(w.chat.messages[0].message_id)
    _send(qtbot, w, "an edited question")
    assert _shown(w) == [("user", "an edited question"), ("assistant", "reply 3")]
    first = w.chat.messages[0]
    assert first.version_label.isVisible() and first.version_label.text() == "2/2"
    assert w.store.conversation(cid).title == "an edited question"  # the sidebar follows the first message
    assert "an edited question" in w.conversations.list.currentItem().text()
    first.previous_button.click()
    assert _shown(w) == [("user", "first question"), ("assistant", "reply 1"),
                         ("user", "second question"), ("assistant", "reply 2")]
    assert w.chat.messages[0].version_label.text() == "1/2"
    w.chat.messages[0].next_button.click()
    assert _shown(w)[0] == ("user", "an edited question")
    w.close()


def test_regenerate_keeps_the_previous_replies_as_browsable_versions(qtbot, hearth_home):
    w = _open(qtbot, CountingBackend())
    _load(qtbot, w)
    _send(qtbot, w, "hello")
    w.chat.messages[-1].regenerate_button.click()
    _wait_idle(qtbot, w, 2)
    w.chat.messages[-1].regenerate_button.click()
    _wait_idle(qtbot, w, 3)
    reply = w.chat.messages[-1]
    assert reply.text == "reply 3" and reply.version_label.text() == "3/3"
    reply.previous_button.click()
    assert w.chat.messages[-1].text == "reply 2" and w.chat.messages[-1].version_label.text() == "2/3"
    w.chat.messages[-1].previous_button.click()
    assert w.chat.messages[-1].text == "reply 1" and not w.chat.messages[-1].previous_button.isEnabled()
    cid = w.conversation_id
    w.close()
    w2 = _open(qtbot)  # the versions and the one on screen are kept
    w2.conversations.select_row_of(cid)
    assert _shown(w2) == [("user", "hello"), ("assistant", "reply 1")]
    assert w2.chat.messages[-1].version_label.text() == "1/3"
    w2.close()


def test_new_chat_and_reload_clear_the_metrics_bar(qtbot):
    w = _open(qtbot)
    _load(qtbot, w)
    _send(qtbot, w, "hi")
    qtbot.waitUntil(lambda: w.metrics.ttft.text() != "TTFT –", timeout=2000)
    press(qtbot, w, w.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert w.conversation_id is None
    assert (w.metrics.ttft.text(), w.metrics.tokens.text(), w.metrics.cached.text()) == ("TTFT –", "0 tokens", "cached –")
    assert w.metrics.context.format() == "context –"
    _send(qtbot, w, "again")
    qtbot.waitUntil(lambda: w.metrics.ttft.text() != "TTFT –", timeout=2000)
    w.models.reload()
    assert w.metrics.ttft.text() == "TTFT –"
    qtbot.waitUntil(lambda: w.state is AppState.IDLE and w.loaded is not None, timeout=5000)
    assert w.metrics.decode.text() == "decode – tok/s"
    w.close()


def test_ctrl_n_during_an_edit_empties_the_composer(qtbot):
    w = _open(qtbot)
    _load(qtbot, w)
    _send(qtbot, w, "hi")
    w.chats.edit(w.chat.messages[0].message_id)
    assert w.composer.text() == "hi"
    press(qtbot, w, w.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert w.composer.text() == "" and w.composer.editing_message is None
    w.close()


def test_only_for_label_follows_the_selected_model(qtbot, tmp_path):
    a, b = tmp_path / "model-a", tmp_path / "model-b"
    a.mkdir()
    b.mkdir()
    w = _open(qtbot)
    w.settings.model_folders = [str(a), str(b)]
    w.models.refresh(select=str(a))
    assert w.settings_panel.override.text() == "Only for model-a"
    w.models.refresh(select=str(b))  # as after adding, installing or converting a model
    assert w.settings_panel.override.text() == "Only for model-b"
    w.close()


def test_chats_with_the_same_title_are_told_apart_by_day_and_time(qtbot):
    w = _open(qtbot)
    now = time.time()
    ids = [w.store.create_conversation("Same title") for _ in range(3)]
    for cid, age in zip(ids, (0, 86_400, 40 * 86_400)):
        w.store.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now - age, cid))
    w.conversations.reload()
    headers = w.conversations.headers()
    assert headers[:2] == ["Today", "Yesterday"] and len(headers) == 3
    seen, header = [], ""
    for i in range(w.conversations.list.count()):
        item = w.conversations.list.item(i)
        if item.data(Qt.ItemDataRole.UserRole) is None:
            header = item.text()
        else:
            seen.append((header, item.text()))
            assert "started" in item.toolTip()
    assert len(set(seen)) == 3 and all(" · " in text for _h, text in seen)
    assert w.conversations.ids() == ids
    w.conversations.list.setCurrentRow(0)  # a header is not a chat
    assert w.conversations.current_id() is None
    w.close()


def test_continue_carries_on_a_reply_that_hit_max_tokens_in_the_same_message(qtbot):
    backend = ScriptedBackend(words=["Once", " upon"], finish="length")
    w = _open(qtbot, backend)
    _load(qtbot, w)
    _send(qtbot, w, "tell a story")
    reply = w.chat.messages[-1]
    assert "hit max tokens" in reply.footer.text() and reply.continue_button.isVisible()
    backend.words, backend.finish = [" a", " time."], "stop"
    reply.continue_button.click()
    _wait_idle(qtbot, w, 2)
    assert backend.continued
    assert backend.calls[-1][1][-1] == {"role": "assistant", "content": "Once upon"}
    assert len(w.chat.messages) == 2 and w.chat.messages[-1].message_id == reply.message_id
    assert w.chat.messages[-1].text == "Once upon a time."
    assert not w.chat.messages[-1].continue_button.isVisible()
    w.store.writer.flush(5)
    stored = w.store.messages(w.conversation_id)
    assert [m.content for m in stored] == ["tell a story", "Once upon a time."]
    assert stored[-1].finish_reason == "stop" and stored[-1].complete
    w.close()
