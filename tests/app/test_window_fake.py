"""The window on a scripted fake engine: persistence, settings, state and notices."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from app import settings as settings_io
from app.main_window import MainWindow
from app.state import AppState
from app.store import Store
from tests.app.fakes import ScriptedBackend


def _open(qtbot, backend=None) -> MainWindow:
    w = MainWindow(backend or ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    return w


def _load(qtbot, w: MainWindow) -> None:
    w.load_model("/fake/model")
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)


def _send(qtbot, w: MainWindow, text: str) -> None:
    n = w.replies_finished
    w.composer.set_text(text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > n and w.state is AppState.IDLE, timeout=5000)


def test_conversations_and_settings_survive_a_restart(qtbot, hearth_home):
    w = _open(qtbot)
    _load(qtbot, w)
    _send(qtbot, w, "first question")
    w.settings_panel.set_value("temperature", 1.25)
    w.settings_panel.set_value("system_prompt", "Answer like a pirate.")
    w.settings_panel.set_value("overflow_policy", "truncate_middle")
    w.resize(760, 560)  # inside the offscreen screen, so restoring need not clamp it
    w.splitter.setSizes([150, 600, 250])
    size, split = w.size(), w.splitter.sizes()
    conv = w.conversation_id
    w.close()
    assert (hearth_home / "config" / "settings.json").is_file()
    assert (hearth_home / "data" / "conversations.sqlite3").is_file()

    w2 = _open(qtbot)
    assert w2.settings.defaults.temperature == 1.25
    assert w2.settings.defaults.system_prompt == "Answer like a pirate."
    assert w2.settings_panel.widgets["temperature"].value() == 1.25
    assert w2.settings_panel.policy.currentData() == "truncate_middle"
    qtbot.wait(50)
    assert w2.size() == size
    assert w2.splitter.sizes() == split
    assert w2.conversations.ids() == [conv]
    w2.conversations.select_row_of(conv)
    assert [(m.role, m.text) for m in w2.chat.messages] == [
        ("user", "first question"), ("assistant", "Hello there, friend.")]
    assert "tokens" in w2.chat.messages[-1].footer.text()
    w2.close()


def test_partial_reply_is_saved_while_streaming(qtbot):
    backend = ScriptedBackend(words=[f" w{i}" for i in range(40)], delay=0.01)
    w = _open(qtbot, backend)
    _load(qtbot, w)
    w.composer.set_text("go")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.chats._reply_text.count(" w") >= 20, timeout=5000)
    w.store.writer.flush(5)
    stored = Store(w.store.path)  # another connection: what is on disk, not what is pending
    try:
        last = stored.messages(w.conversation_id)[-1]
    finally:
        stored.close()
    assert last.role == "assistant" and not last.complete
    assert last.content.count(" w") >= 8  # written every few tokens, before the end
    qtbot.waitUntil(lambda: w.state is AppState.IDLE, timeout=5000)
    w.close()


def test_state_enum_drives_controls_and_errors_are_notices(qtbot):
    w = _open(qtbot, ScriptedBackend(error_event_after=2))
    assert not w.composer.send_button.isEnabled()  # no model yet
    _load(qtbot, w)
    assert w.composer.send_button.isEnabled()
    _send(qtbot, w, "hi")
    reply = w.chat.messages[-1]
    assert reply.text == "Hello there"  # the error is not in the reply
    assert any("device went away" in n.text for n in w.chat.notices)
    assert w.state is AppState.IDLE and w.composer.send_button.isVisible()
    w.close()


def test_stop_button_and_states(qtbot):
    w = _open(qtbot, ScriptedBackend(words=[f" w{i}" for i in range(300)], delay=0.01))
    _load(qtbot, w)
    w.composer.set_text("go")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state is AppState.GENERATING, timeout=5000)
    assert w.composer.stop_button.isVisible() and not w.composer.send_button.isVisible()
    assert not w.conversations.isEnabled()
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Escape)
    assert w.state is AppState.STOPPING and not w.composer.stop_button.isEnabled()
    qtbot.waitUntil(lambda: w.state is AppState.IDLE, timeout=5000)
    assert w.last_finished.finish_reason == "cancelled"
    assert "stopped" in w.chat.messages[-1].footer.text()
    w.close()


def test_load_failure_is_a_notice(qtbot):
    w = _open(qtbot, ScriptedBackend(fail_load="model.onnx is truncated"))
    w.load_model("/fake/model")
    qtbot.waitUntil(lambda: any("truncated" in n.text for n in w.chat.notices), timeout=5000)
    assert w.state is AppState.IDLE and w.loaded is None
    w.close()


def test_failed_reload_shows_no_model_loaded(qtbot):
    """The engine frees the old model before loading the new one: after a failure none is loaded."""
    backend = ScriptedBackend()
    w = _open(qtbot, backend)
    _load(qtbot, w)
    assert w.picker.loaded_path == "/fake/model" and w.composer.send_button.isEnabled()
    backend.fail_load = "model.onnx is truncated"
    w.load_model("/fake/model")
    qtbot.waitUntil(lambda: any("truncated" in n.text for n in w.chat.notices), timeout=5000)
    qtbot.wait(100)  # let any later worker signal arrive
    assert w.state is AppState.IDLE and w.loaded is None
    assert w.picker.loaded_path == "" and w.picker.load_button.text() == "Load"
    assert w.metrics.device.text() == "no model"
    assert not w.composer.send_button.isEnabled()
    assert backend.loaded is False  # the window says what the engine has
    w.close()


def test_corrupt_settings_file_gives_defaults_and_a_notice(qtbot, hearth_home):
    path = hearth_home / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    w = _open(qtbot)
    assert w.settings.defaults == settings_io.ModelSettings()
    assert any("could not be read" in n.text for n in w.chat.notices)
    w.close()


def test_invalid_values_are_refused(hearth_home):
    s = settings_io.AppSettings()
    with pytest.raises(ValueError):
        s.set_value("temperature", 5.0)
    with pytest.raises(ValueError):
        s.set_value("top_k", 1.5)
    with pytest.raises(ValueError):
        s.set_value("overflow_policy", "explode")
    path = settings_io.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"defaults": {"temperature": 9, "top_p": 0.5}}), encoding="utf-8")
    loaded, notice = settings_io.load()
    assert loaded.defaults.temperature == settings_io.ModelSettings().temperature
    assert loaded.defaults.top_p == 0.5
    assert notice and "temperature" in notice


def test_invalid_values_are_refused_out_loud(qtbot):
    # Replaced the old "spin boxes clamp silently" test: issue 12 item 7 wants a message instead
    # (see tests/app/test_settings_say_no.py).
    w = _open(qtbot)
    box = w.settings_panel.widgets["temperature"]
    box.setValue(50)
    assert box.value() == w.settings.defaults.temperature and "between 0 and 2" in box.error_text()
    w.close()


def test_per_model_override_and_reset(qtbot):
    w = _open(qtbot)
    s = w.settings
    s.set_value("max_new_tokens", 100)
    s.set_value("max_new_tokens", 7, model="tiny")
    assert s.for_model("tiny").max_new_tokens == 7
    assert s.for_model("other").max_new_tokens == 100
    w.settings_panel.reset_requested.emit()
    assert s.for_model("tiny").max_new_tokens == settings_io.ModelSettings().max_new_tokens
    w.close()


def test_search_rename_delete_and_new_chat(qtbot):
    w = _open(qtbot)
    _load(qtbot, w)
    _send(qtbot, w, "about elephants")
    first = w.conversation_id
    w.conversations.new_button.click()
    assert w.conversation_id is None and w.chat.messages == []
    _send(qtbot, w, "about tigers")
    assert len(w.conversations.ids()) == 2
    w.conversations.search.setText("elephant")
    assert w.conversations.ids() == [first]
    w.conversations.search.setText("friend")  # matches reply text in both
    assert len(w.conversations.ids()) == 2
    w.conversations.search.setText("")
    w._ask_text = lambda *a: "Elephant facts"
    w.conversations.rename_requested.emit(first)
    assert w.store.conversation(first).title == "Elephant facts"
    w._confirm = lambda *a: True
    w.conversations.delete_requested.emit(first)
    assert first not in w.conversations.ids()
    w.close()


def test_dropping_a_folder_that_is_not_a_model_says_so(qtbot, tmp_path):
    w = _open(qtbot)
    (tmp_path / "empty").mkdir()
    w.handle_dropped_paths([str(tmp_path / "empty")])
    qtbot.waitUntil(lambda: any("not a model" in n.text for n in w.chat.notices), timeout=10_000)
    w.close()


def test_first_start_offers_the_default_model(qtbot):
    w = _open(qtbot)
    assert w._welcome is not None and w._welcome.isVisible()
    w.close()


def test_metrics_bar_repaints_at_most_ten_times_a_second(qtbot):
    from engine.core.events import GenerationEvent

    w = _open(qtbot)
    start = w.metrics.repaints
    for i in range(500):
        w.metrics.show_event(GenerationEvent("x", i, 5, 0, i, 5 + i, 1024, decode_tps=30.0))
    qtbot.wait(500)
    assert w.metrics.repaints - start <= 7
    w.close()
