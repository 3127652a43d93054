"""Issue 12, item 6: the last used model loads at start; a greyed-out Send says why."""

from __future__ import annotations

from app import settings as settings_io
from app.composer import PendingAttachment
from app.main_window import MainWindow
from app.state import AppState
from tests.app.fakes import ScriptedBackend


def test_the_last_used_model_loads_at_start(qtbot, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    settings_io.save(settings_io.AppSettings(model_folders=[str(folder)], last_model=str(folder)))
    backend = ScriptedBackend()
    w = MainWindow(backend)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)
    assert [c[1] for c in backend.calls if c[0] == "load"] == [str(folder)]
    assert w.picker.loaded_path == str(folder) and w.composer.send_button.isEnabled()
    w.close()


def test_no_autoload_when_the_last_model_is_gone(qtbot, tmp_path):
    settings_io.save(settings_io.AppSettings(last_model=str(tmp_path / "deleted")))
    backend = ScriptedBackend()
    w = MainWindow(backend)
    qtbot.addWidget(w)
    qtbot.wait(100)
    assert w.loaded is None and not [c for c in backend.calls if c[0] == "load"]
    w.close()


def test_greyed_out_send_says_why(qtbot):
    w = MainWindow(ScriptedBackend(delay=0.0))
    qtbot.addWidget(w)
    w.show()
    send, hint = w.composer.send_button, w.composer.send_hint
    assert not send.isEnabled() and "No model loaded" in send.toolTip() and hint.isVisible()
    assert "No model loaded" in hint.text()
    w.load_model("/fake/model")
    assert not send.isEnabled() and "loading" in send.toolTip() and "loading" in hint.text()
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)
    assert send.isEnabled() and not hint.isVisible() and send.toolTip() == "Send (Enter)"
    w.composer.add_attachment(PendingAttachment(99, "big.pdf"))  # still being read
    assert not send.isEnabled() and "Still reading the attached files" in send.toolTip() and hint.isVisible()
    w.composer.remove_attachment(99)
    assert send.isEnabled() and not hint.isVisible()
    w.close()
