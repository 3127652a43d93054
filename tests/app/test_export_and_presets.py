"""Issue 12, item 13: export chats to Markdown and JSON, import JSON back; named presets chosen per chat."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from app import chat_export
from app import settings as settings_io
from app.chat_menu import export_chats, import_chats
from app.main_window import MainWindow
from app.state import AppState
from app.store import Attachment, Store
from tests.app.fakes import ScriptedBackend


def _window(qtbot, backend=None) -> MainWindow:
    w = MainWindow(backend or ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    w.load_model("/fake/model")
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)
    return w


def _send(qtbot, w: MainWindow, text: str) -> None:
    n = w.replies_finished
    w.composer.set_text(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > n and w.state is AppState.IDLE, timeout=5000)


def test_export_one_chat_and_all_chats_then_import_json_back(qtbot, tmp_path):
    w = _window(qtbot)
    _send(qtbot, w, "first question")
    first = w.conversation_id
    w.chats.new_chat()
    _send(qtbot, w, "second question")
    w.store.writer.flush(5)

    assert export_chats(w, str(tmp_path / "one.json"), everything=False, markdown=False) == 1
    one = json.loads((tmp_path / "one.json").read_text())
    assert one["format"] == "hearth-chats" and one["version"] == 1
    assert one["settings"]["temperature"] == w.settings.defaults.temperature
    [chat] = one["conversations"]
    assert [(m["role"], m["content"]) for m in chat["messages"]] == [
        ("user", "second question"), ("assistant", "Hello there, friend.")]
    reply = chat["messages"][1]
    assert reply["model"] == "fake-model" and reply["finish_reason"] == "stop"
    assert reply["figures"]["generated_tokens"] == 5 and reply["figures"]["ttft_s"] == 0.05

    assert export_chats(w, str(tmp_path / "all.md"), everything=True, markdown=True) == 2
    md = (tmp_path / "all.md").read_text()
    assert "## first question" in md and "## second question" in md and "### You" in md
    assert "TTFT 50 ms" in md and "5 tokens" in md and "**temperature**" in md

    export_chats(w, str(tmp_path / "all.json"), everything=True, markdown=False)
    before = w.conversations.ids()
    assert import_chats(w, str(tmp_path / "all.json")) == 2
    w.store.writer.flush(5)
    new = [cid for cid in w.conversations.ids() if cid not in before]
    assert len(new) == 2
    titles = {w.store.conversation(cid).title for cid in new}
    assert titles == {"first question", "second question"}
    for cid in new:
        original = first if w.store.conversation(cid).title == "first question" else w.conversation_id
        a, b = w.store.messages(cid), w.store.messages(original)
        assert [(m.role, m.content, m.model, m.finish_reason) for m in a] == [
            (m.role, m.content, m.model, m.finish_reason) for m in b]
        assert a[-1].stats == b[-1].stats
    w.close()


def test_attachments_survive_the_round_trip(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    cid = store.create_conversation("with a file")
    store.add_message(cid, "user", "summarise", attachments=(
        Attachment("plan.pdf", "/x/plan.pdf", "pdf", "page one text", ((0, 13, 1, 1),), 3),))
    text = chat_export.to_json(chat_export.export_data(store, [cid], {}))
    [(new, _)] = chat_export.import_data(store, chat_export.parse(text))
    [m] = store.messages(new)
    assert m.attachments[0].name == "plan.pdf" and m.attachments[0].spans == ((0, 13, 1, 1),)
    assert m.attachments[0].text == "page one text" and m.attachments[0].tokens == 3
    store.close()


@pytest.mark.parametrize("text, words", [
    ("not json", "not JSON"),
    ('{"format": "other"}', "not a Hearth chat export"),
    ('{"format": "hearth-chats", "version": 9, "conversations": []}', "version 9"),
    ('{"format": "hearth-chats", "version": 1, "conversations": [{"messages": [{"role": "x"}]}]}', "valid role"),
])
def test_a_bad_file_is_refused_with_a_reason(text, words):
    with pytest.raises(chat_export.ChatFileError, match=words):
        chat_export.parse(text)


def test_presets_are_chosen_per_chat_and_reach_the_engine(qtbot, hearth_home):
    backend = ScriptedBackend()
    w = _window(qtbot, backend)
    w.settings_panel.set_value("system_prompt", "Be a pirate.")
    w.settings_panel.set_value("temperature", 1.2)
    w.preset_bar._ask_name = lambda: "Pirate"  # type: ignore[method-assign]
    w.preset_bar.save_button.click()
    assert w.settings.presets["Pirate"]["system_prompt"] == "Be a pirate."
    assert w.preset_bar.current() == "Pirate"
    w.settings_panel.set_value("system_prompt", "Be plain.")
    w.settings_panel.set_value("temperature", 0.3)
    _send(qtbot, w, "ahoy?")
    pirate_chat = w.conversation_id
    stream = [c for c in backend.calls if c[0] == "stream"][-1]
    assert stream[1][0]["content"] == "Be a pirate." and stream[2].temperature == 1.2

    w.chats.new_chat()
    w.preset_bar.combo.setCurrentIndex(0)  # no preset for the new chat
    _send(qtbot, w, "hello?")
    plain_chat = w.conversation_id
    stream = [c for c in backend.calls if c[0] == "stream"][-1]
    assert stream[1][0]["content"] == "Be plain." and stream[2].temperature == 0.3

    w.conversations.select_row_of(pirate_chat)  # the user opens a chat
    assert w.conversation_id == pirate_chat and w.preset_bar.current() == "Pirate"
    w.conversations.select_row_of(plain_chat)
    assert w.conversation_id == plain_chat and w.preset_bar.current() == ""
    w.close()
    saved, notice = settings_io.load()
    assert notice is None and saved.presets["Pirate"]["temperature"] == 1.2
    assert saved.chat_presets == {str(pirate_chat): "Pirate"}
