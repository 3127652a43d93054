"""Issue 12, item 7 (invalid values are refused with the allowed range; context bounded by the model)
and the Reload button of item 6."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.main_window import MainWindow
from app.state import AppState
from tests.app.fakes import ScriptedBackend


def _window(qtbot, backend=None) -> MainWindow:
    w = MainWindow(backend or ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    return w


def _type(qtbot, w: MainWindow, name: str, text: str):
    box = w.settings_panel.widgets[name]
    box.edit.selectAll()
    qtbot.keyClicks(box.edit, text)
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    return box


def _load(qtbot, w: MainWindow) -> None:
    w.load_model("/fake/model")
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)


def test_each_invalid_value_gets_an_inline_message_and_is_not_saved(qtbot):
    w = _window(qtbot)
    before = w.settings.defaults
    box = _type(qtbot, w, "temperature", "5")
    assert box.error.isVisible() and box.error_text() == "Temperature must be a number between 0 and 2."
    assert box.edit.text() == "5"  # kept as typed, not clamped to 2
    box = _type(qtbot, w, "top_k", "abc")
    assert box.error_text() == "Top-k must be a whole number between 0 and 1,000."
    box = _type(qtbot, w, "context_length", "10")
    assert "Context length must be a whole number between 256 and" in box.error_text()
    box = _type(qtbot, w, "max_new_tokens", "999999")
    assert box.error_text() == "Max new tokens must be a whole number between 1 and 32,768."
    assert box.edit.text() == "999999"
    assert w.settings.defaults == before  # nothing invalid reached the settings
    box = _type(qtbot, w, "temperature", "1.5")
    assert not box.error.isVisible() and w.settings.defaults.temperature == 1.5
    w.close()


def test_context_is_bounded_by_the_models_maximum_and_shows_the_value_in_use(qtbot):
    w = _window(qtbot)
    w.settings.set_value("context_length", 100_000)
    _load(qtbot, w)  # the fake model's maximum is 8,192
    box = w.settings_panel.widgets["context_length"]
    assert w.loaded_context == 8192
    assert box.edit.text() == "8192" and "In use: 8,192 tokens" in box.hint.text()
    _type(qtbot, w, "context_length", "100000")
    assert box.error_text() == ("Context length must be a whole number between 256 and 8,192 "
                                "(the most fake-model supports).")
    assert w.settings.defaults.context_length == 100_000  # unchanged by the refused edit
    _type(qtbot, w, "context_length", "4096")
    assert not box.error.isVisible() and w.settings.defaults.context_length == 4096
    w.close()


def test_load_time_changes_show_a_reload_button_that_reloads(qtbot):
    backend = ScriptedBackend()
    w = _window(qtbot, backend)
    _load(qtbot, w)
    assert not w.settings_panel.reload_button.isVisibleTo(w)
    _type(qtbot, w, "context_length", "2048")
    assert w.settings_panel.reload_button.isVisibleTo(w)
    assert "Reload" in w.settings_panel.reload_button.text()
    assert "unload" not in w.settings_panel.reload_note.text().lower()
    loads = [c for c in backend.calls if c[0] == "load"]
    w.settings_panel.reload_button.click()
    qtbot.waitUntil(lambda: len([c for c in backend.calls if c[0] == "load"]) == len(loads) + 1, timeout=5000)
    qtbot.waitUntil(lambda: w.state is AppState.IDLE and w.loaded is not None, timeout=5000)
    assert [c for c in backend.calls if c[0] == "load"][-1][2].context_length == 2048
    assert w.loaded_context == 2048 and not w.settings_panel.reload_button.isVisibleTo(w)
    w.close()
