"""The window on a remote model: Hearth's own ``hearth-cli serve`` started on 127.0.0.1 as the
remote server, with the engine tests' fault-injecting proxy in front of it for the failures.

CI has no OS keyring: the app's key store gets keyring's fail backend, so a key is kept
for the session only, after the dialog has said so and the user ticked the box.
"""

from __future__ import annotations

import logging
import time

import pytest
from keyring.backends import fail
from PySide6.QtWidgets import QLabel

import app.backend_switch as switch
from app.main_window import MainWindow
from app.settings import settings_path
from app.state import AppState
from app.store import Store, default_path
from engine.remote.keys import KeyStore
from engine.remote.providers import Provider, add_provider, providers_path
from tests.engine.fault_proxy import FaultProxy, tls_context
from tests.engine.serve_process import serve
from tests.helpers.heartbeat import Heartbeat

SECRET = "sk-app-7c1d2e3f4a5b-never-written"
MODEL = "SmolLM2-135M-Instruct"
ASK = "Count from one to twenty in words."


@pytest.fixture(scope="module")
def served(default_model_dir):
    with serve(default_model_dir, "--parallel", "2", key=SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(served):
    proxy = FaultProxy(served.port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def tls_proxy(served, tmp_path_factory):
    """The same proxy speaking HTTPS with a certificate from a test CA (the provider's CA file)."""
    context, ca_file = tls_context(tmp_path_factory.mktemp("tls"))
    proxy = FaultProxy(served.port, tls=context)
    proxy.ca_file = str(ca_file)
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch):
    monkeypatch.setattr(switch, "_KEYS", KeyStore(fail.Keyring()))


def _window(qtbot, max_tokens: int = 24) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.settings.set_value("max_new_tokens", max_tokens)
    w.settings.set_value("temperature", 0.0)
    return w


def _use_provider(qtbot, w: MainWindow, base_url: str, name: str = "faulty", timeout_s: float = 120.0,
                  ca_file: str = "") -> str:
    """A provider added without the dialog (its key for the session), loaded."""
    add_provider(Provider(name=name, base_url=base_url, kind="hearth", model=MODEL, timeout_s=timeout_s,
                          ca_file=ca_file))
    switch.key_store().set(name, SECRET, session_only=True)
    path = f"remote://{name}/{MODEL}"
    w.models.refresh(select=path)
    w.load_model(path)
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=20_000)
    return path


def _send_and_wait(qtbot, w: MainWindow, text: str, timeout: int = 60_000):
    before = w.replies_finished
    w.send(text)
    qtbot.waitUntil(lambda: w.replies_finished > before and w.state is AppState.IDLE, timeout=timeout)
    return w.last_finished


def _notices(w: MainWindow) -> list[str]:
    return [n.text for n in w.chat.notices]


def test_add_a_provider_pick_its_model_stream_stop_and_follow_up(qtbot, served, caplog, hearth_home):
    caplog.set_level(logging.DEBUG)
    w = _window(qtbot)
    dialog = w.remote.add_provider()
    assert "No system keyring" in dialog.keyring_note.text() and dialog.session_only.isVisible()
    dialog.fill("hearth", "box", f"{served.base}/v1", SECRET)
    dialog.list_models()  # off the GUI thread
    qtbot.waitUntil(lambda: dialog.model.count() > 0, timeout=10_000)
    assert dialog.model.currentText() == MODEL
    assert not dialog.add()  # no keyring, and the session-only box is not ticked
    assert "No system keyring" in dialog.status.text() and "session only" in dialog.status.text()
    dialog.session_only.setChecked(True)
    assert dialog.add()
    path = f"remote://box/{MODEL}"
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=20_000)
    # The picker marks the remote model and its host; the window says where the chat goes.
    host = f"127.0.0.1:{served.port}"
    assert w.picker.current() == path and w.loaded.info.path == path
    assert "remote" in w.picker.combo.currentText() and host in w.picker.combo.currentText()
    assert w.picker.remote_badge.isVisible() and "remote" in w.picker.remote_badge.text()
    assert host in w.picker.details.text() and host in w.picker.remote_badge.toolTip()
    assert w.metrics.device.text() == f"remote: {host}"
    assert f"remote: {host}" in w.windowTitle()
    assert any("Replies now come from" in n for n in _notices(w))

    w.settings.set_value("top_k", 40)
    beat = Heartbeat()
    beat.start()
    first = _send_and_wait(qtbot, w, ASK)
    beat.stop()
    assert first.finish_reason in ("stop", "length") and first.ttft_s is not None
    reply = w.chat.messages[-1]
    assert reply.text.strip()
    assert any("remote: box" in label.text() for label in reply.findChildren(QLabel))  # where it ran
    assert "TTFT" in reply.footer.text() and "tok/s" in reply.footer.text()
    assert max(beat.gaps) < 0.5, "the window stalled while the remote reply streamed"
    ignored = [n for n in _notices(w) if "does not take" in n]
    assert len(ignored) == 1 and "top-k" in ignored[0]  # Hearth's server takes no top-k: said, not dropped

    # Stop mid-reply: the stream closes at once and the text so far stays.
    w.settings.set_value("max_new_tokens", 400)
    w.send("Write a long story about a lighthouse keeper.")
    qtbot.waitUntil(lambda: w.state is AppState.GENERATING and len(w.chat.messages[-1].text) > 10, timeout=30_000)
    pressed = time.monotonic()
    w.chats.stop()
    qtbot.waitUntil(lambda: w.state is AppState.IDLE, timeout=5_000)
    assert time.monotonic() - pressed < 2.0
    assert w.last_finished.finish_reason == "cancelled" and w.chat.messages[-1].text
    assert len([n for n in _notices(w) if "does not take" in n]) == len(ignored)  # not again for this model

    # A follow-up turn in the same chat, then the history says where each reply ran.
    w.settings.set_value("max_new_tokens", 16)
    follow = _send_and_wait(qtbot, w, "Thank you. Say goodbye.")
    assert follow.finish_reason in ("stop", "length")
    stored = w.store.messages(w.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"] * 3
    assert {m.origin for m in stored if m.role == "assistant"} == {path}
    assert len([n for n in _notices(w) if "does not take" in n]) == 1
    # Choosing the model again is a new selection: the notice comes once more.
    w.load_model(path)
    qtbot.waitUntil(lambda: w.state is AppState.IDLE and w.loaded is not None, timeout=20_000)
    _send_and_wait(qtbot, w, "Once more: goodbye.")
    assert len([n for n in _notices(w) if "does not take" in n]) == 2
    w.shutdown()
    _assert_key_nowhere(hearth_home, caplog)


def _assert_key_nowhere(home, caplog) -> None:
    """The key is in no file under HEARTH_HOME (settings, providers, the database and its WAL) nor in the logs."""
    assert providers_path().is_file() and default_path().is_file() and settings_path().is_file()
    files = [p for p in home.rglob("*") if p.is_file()]
    for file in files:
        assert SECRET.encode() not in file.read_bytes(), f"the API key was written to {file}"
    assert SECRET not in caplog.text


@pytest.mark.parametrize("mode, timeout_s, words", [
    ("cut", 120.0, "cut off"),
    ("stall", 1.5, "stopped sending mid-reply (read timeout)"),  # silent past the provider's read timeout
])  # fmt: skip
def test_a_stream_cut_mid_reply_keeps_the_text_marked_after_a_restart(qtbot, proxy, mode, timeout_s, words):
    w = _window(qtbot, max_tokens=40)
    _use_provider(qtbot, w, proxy.base_url, timeout_s=timeout_s)
    requests = len(proxy.seen_auth)
    proxy.set(mode, after=6)
    beat = Heartbeat()
    beat.start()
    try:
        final = _send_and_wait(qtbot, w, ASK)
    finally:
        beat.stop()
        proxy.release.set()  # a stalled proxy thread lets go
        proxy.set("pass")
    assert final.finish_reason == "error"
    assert len(proxy.seen_auth) == requests + 1  # one request: no retry that could duplicate a message
    assert max(beat.gaps) < 0.1, f"the window stalled for {max(beat.gaps):.3f} s"
    assert w.chat.messages[-2].text == ASK  # the question stays
    partial = w.chat.messages[-1].text
    assert partial.strip()
    assert any(words in n and "kept" in n for n in _notices(w)), _notices(w)
    assert "cut off" in w.chat.messages[-1].footer.text()
    conversation = w.conversation_id
    w.shutdown()
    reopened = Store()  # what the next start reads
    saved = reopened.messages(conversation)[-1]
    assert (saved.role, saved.content, saved.finish_reason) == ("assistant", partial, "error")
    assert saved.origin == f"remote://faulty/{MODEL}"
    reopened.close()
    again = _window(qtbot)
    again.chats.open_conversation(conversation)
    assert again.chat.messages[-1].text == partial and "cut off" in again.chat.messages[-1].footer.text()
    assert any("cut off by an error" in n for n in _notices(again))
    again.shutdown()


@pytest.mark.parametrize("status, words", [
    (401, "refused the API key (HTTP 401)"), (404, "no such model or endpoint (HTTP 404)"),
    (429, "busy or the key's quota is used up (HTTP 429)"), (500, "failed (HTTP 500)"),
])  # fmt: skip
def test_http_errors_are_notices_and_nothing_is_sent_twice(qtbot, proxy, status, words):
    w = _window(qtbot)
    _use_provider(qtbot, w, proxy.base_url)
    requests = len(proxy.seen_auth)
    proxy.set(f"status:{status}")
    try:
        final = _send_and_wait(qtbot, w, ASK)
    finally:
        proxy.set("pass")
    assert final.finish_reason == "error"
    assert len(proxy.seen_auth) == requests + 1  # one request: no retry that could duplicate a message
    assert any(words in n for n in _notices(w)), _notices(w)
    assert w.chat.messages[-1].text == ASK  # the question stays in the chat; no empty reply under it
    stored = w.store.messages(w.conversation_id)
    assert [(m.role, m.content) for m in stored] == [("user", ASK)]  # the question stays; no empty reply
    # The same chat goes on once the server answers again.
    follow = _send_and_wait(qtbot, w, "Say hello.")
    assert follow.finish_reason in ("stop", "length") and w.chat.messages[-1].text
    w.shutdown()


def test_stop_while_the_server_is_silent_is_idle_at_once_with_the_text_kept(qtbot, proxy):
    w = _window(qtbot, max_tokens=40)
    _use_provider(qtbot, w, proxy.base_url)  # the default read timeout: only Stop ends this stall
    requests = len(proxy.seen_auth)
    proxy.set("stall", after=6)
    beat = Heartbeat()
    beat.start()
    try:
        w.send(ASK)
        qtbot.waitUntil(lambda: w.state is AppState.GENERATING and bool(w.chat.messages[-1].text),
                        timeout=30_000)
        qtbot.wait(1_000)  # the first events have arrived; the proxy now holds the stream open, silent
        streamed = w.chat.messages[-1].text
        qtbot.wait(500)
        assert w.chat.messages[-1].text == streamed and w.state is AppState.GENERATING
        pressed = time.monotonic()
        w.chats.stop()
        qtbot.waitUntil(lambda: w.state is AppState.IDLE, timeout=5_000)
        stopped_in = time.monotonic() - pressed
    finally:
        beat.stop()
        proxy.release.set()
        proxy.set("pass")
    assert stopped_in < 2.0, f"Stop took {stopped_in:.2f} s against a silent server"
    assert max(beat.gaps) < 0.1, f"the window stalled for {max(beat.gaps):.3f} s"
    assert w.last_finished.finish_reason == "cancelled"
    assert len(proxy.seen_auth) == requests + 1
    assert w.chat.messages[-2].text == ASK and w.chat.messages[-1].text == streamed
    assert "stopped" in w.chat.messages[-1].footer.text()
    stored = w.store.messages(w.conversation_id)
    assert [(m.role, m.content, m.finish_reason) for m in stored][-1] == ("assistant", streamed, "cancelled")
    w.shutdown()


# The provider's CA file reaches the HTTP client in a form it will keep taking (not a deprecated path string).
@pytest.mark.filterwarnings("error:`verify=<str>` is deprecated:DeprecationWarning")
def test_a_failed_tls_handshake_is_a_notice_and_the_question_stays(qtbot, tls_proxy):
    w = _window(qtbot)
    _use_provider(qtbot, w, tls_proxy.base_url, name="secure", ca_file=tls_proxy.ca_file)  # over HTTPS
    requests, refused = len(tls_proxy.seen_auth), tls_proxy.refused_handshakes
    tls_proxy.set("tls_fail")  # e.g. a middlebox, or the server restarted without its certificate
    beat = Heartbeat()
    beat.start()
    try:
        final = _send_and_wait(qtbot, w, ASK)
    finally:
        beat.stop()
        tls_proxy.set("pass")
    assert final.finish_reason == "error"
    assert tls_proxy.refused_handshakes == refused + 1 and len(tls_proxy.seen_auth) == requests  # one try, no retry
    assert max(beat.gaps) < 0.1, f"the window stalled for {max(beat.gaps):.3f} s"
    assert any(f"secure connection to 127.0.0.1:{tls_proxy.port} failed" in n for n in _notices(w)), _notices(w)
    assert w.chat.messages[-1].text == ASK
    stored = w.store.messages(w.conversation_id)
    assert [(m.role, m.content) for m in stored] == [("user", ASK)]
    # Once the handshake works again the same chat goes on, over HTTPS.
    follow = _send_and_wait(qtbot, w, "Say hello.")
    assert follow.finish_reason in ("stop", "length") and w.chat.messages[-1].text
    w.shutdown()
