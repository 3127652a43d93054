"""End-to-end flows in the window on the real default model (small context, few tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from tests.helpers.heartbeat import Heartbeat
from app.state import AppState
from tests.app.fakes import SignalLog

pytestmark = pytest.mark.slow


@pytest.fixture
def window(real_window):
    return real_window


class _Finished:
    """Waits for the reply to end and for the window to have handled it."""

    def __init__(self, qtbot, w: MainWindow) -> None:
        self.qtbot, self.w = qtbot, w
        self.args: tuple = ()

    def __enter__(self):
        self.count = self.w.replies_finished
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.qtbot.waitUntil(lambda: self.w.replies_finished > self.count and self.w.state is AppState.IDLE,
                                 timeout=60_000)
            self.args = (0, self.w.last_finished)
        return False


def _type_and_send(qtbot, w: MainWindow, text: str) -> None:
    w.composer.edit.setFocus()
    qtbot.keyClicks(w.composer.edit, text)
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)


def test_typed_prompt_streams_and_fills_metrics(qtbot, window):
    w = window
    log = SignalLog(w.bridge.engine)
    tokens = log.tokens
    with _Finished(qtbot, w) as done:
        _type_and_send(qtbot, w, "What is the capital of France?")
    final = done.args[1]
    assert final.finish_reason in ("stop", "length")
    assert len(tokens) >= 2
    reply = w.chat.messages[-1]
    assert reply.role == "assistant" and reply.text.strip()
    assert reply.text == "".join(t.text for t in tokens)
    qtbot.waitUntil(lambda: "tok/s" in w.metrics.decode.text() and "–" not in w.metrics.decode.text(), timeout=2000)
    assert w.metrics.ttft.text().startswith("TTFT ") and "ms" in w.metrics.ttft.text()
    assert w.metrics.context.value() > 0
    assert "CPU" in w.metrics.device.text()
    assert "tokens" in reply.footer.text()
    assert w.composer.text() == ""
    # The user message went in through the template, with the system prompt.
    assert w.bridge.engine.last_messages[-1] == {"role": "user", "content": "What is the capital of France?"}


def test_stop_and_regenerate(qtbot, window):
    w = window
    w.settings.set_value("max_new_tokens", 400)
    first = []
    # Runs on the GUI thread, like a click on Stop after the first token.
    log = SignalLog(w.bridge.engine, on_token=lambda ev: first or (first.append(ev), w.chats.stop()))
    with _Finished(qtbot, w) as done:
        _type_and_send(qtbot, w, "Write a long story about a dragon.")
    assert done.args[1].finish_reason == "cancelled"
    assert done.args[1].generated_tokens < 100 and log.tokens
    assert w.state is AppState.IDLE
    stopped = w.store.messages(w.conversation_id)[-1]
    assert stopped.role == "assistant" and stopped.finish_reason == "cancelled"

    w.settings.set_value("max_new_tokens", 12)
    first.append("done")  # no more stopping
    with _Finished(qtbot, w) as again:
        w.chat.messages[-1].regenerate_button.click()
    assert again.args[1].finish_reason in ("stop", "length")
    assert again.args[1].cached_tokens > 0  # the prompt came from the engine's cache
    messages = w.store.messages(w.conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[-1].finish_reason in ("stop", "length")


def test_edit_a_user_message_reruns(qtbot, window):
    w = window
    with _Finished(qtbot, w):
        _type_and_send(qtbot, w, "Name a fruit.")
    user = w.chat.messages[0]
    user.edit_button.click()
    assert w.composer.text() == "Name a fruit."
    w.composer.set_text("")
    with _Finished(qtbot, w):
        _type_and_send(qtbot, w, "Name a colour.")
    messages = w.store.messages(w.conversation_id)
    assert [(m.role, m.content) for m in messages][0] == ("user", "Name a colour.")
    assert len(messages) == 2


def test_dropped_txt_and_pdf_reach_the_prompt(qtbot, window, tmp_path):
    from tests.helpers.make_pdf import build_pdf

    w = window
    txt = tmp_path / "notes.txt"
    txt.write_text("The secret password is PELICAN-42.\n", encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(build_pdf(["The launch date of Project Heron is March 3."]))
    w.handle_dropped_paths([str(txt), str(pdf)])
    qtbot.waitUntil(lambda: len(w.composer.ready_documents()) == 2, timeout=20_000)
    chips = [c.label.text() for c in w.composer._chips.values()]
    assert any("notes.txt" in c and "tokens" in c for c in chips)
    assert any("report.pdf" in c and "tokens" in c for c in chips)
    with _Finished(qtbot, w) as done:
        _type_and_send(qtbot, w, "What is the secret password?")
    assert done.args[1].finish_reason in ("stop", "length")
    sent = w.bridge.engine.last_messages[-1]["content"]
    assert "PELICAN-42" in sent and "notes.txt" in sent
    assert "Project Heron" in sent and "report.pdf" in sent
    assert sent.endswith("What is the secret password?")
    assert "PELICAN-42" in w.bridge.engine.last_prompt
    assert w.composer.attachments == {}
    stored = w.store.messages(w.conversation_id)[0]
    assert {a.name for a in stored.attachments} == {"notes.txt", "report.pdf"}


def test_bad_file_shows_a_notice(qtbot, window, tmp_path):
    w = window
    bad = tmp_path / "photo.xlsx"
    bad.write_bytes(b"\x00\x01binary")
    w.handle_dropped_paths([str(bad)])
    qtbot.waitUntil(lambda: any("photo.xlsx" in n.text for n in w.chat.notices), timeout=10_000)
    assert w.composer.attachments == {}


def test_gui_thread_never_stalls_during_generation(qtbot, window):
    w = window
    w.settings.set_value("max_new_tokens", 64)
    heartbeat = Heartbeat()
    heartbeat.start()
    with _Finished(qtbot, w) as done:
        _type_and_send(qtbot, w, "Tell me about the sea.")
    heartbeat.stop()
    gaps = heartbeat.gaps
    assert done.args[1].generated_tokens >= 8
    assert len(gaps) > 10
    assert max(gaps) < 0.100, f"GUI thread stalled for {max(gaps) * 1000:.0f} ms"


def test_failed_reload_leaves_no_model_shown(qtbot, window, tmp_path):
    """The engine frees the loaded model before the new load; after a failure none is shown."""
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an onnx file")
    window.load_model(str(broken))
    qtbot.waitUntil(lambda: any("Could not load" in n.text for n in window.chat.notices), timeout=30_000)
    qtbot.waitUntil(lambda: window.loaded is None, timeout=5000)
    assert window.bridge.engine.backend.model is None
    assert window.picker.loaded_path == "" and window.metrics.device.text() == "no model"
    assert window.state is AppState.IDLE and not window.composer.send_button.isEnabled()
