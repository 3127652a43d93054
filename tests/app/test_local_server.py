"""Settings → Local server on the real default model: on and off, the app's chat beside clients, no stalls."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading

import pytest

from app import settings as settings_io
from app.main_window import MainWindow
from tests.helpers.heartbeat import Heartbeat
from app.server_prefs import ServerPrefs
from app.state import AppState

pytestmark = pytest.mark.slow
openai = pytest.importorskip("openai")
SLOTS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, token: str = "") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture
def window(real_window):
    return real_window


def _turn_on(qtbot, w: MainWindow, port: int) -> None:
    section = w.settings_panel.server
    section.port.setValue(port)
    section.slots.setValue(SLOTS)
    section.switch.setChecked(True)  # as a click does
    qtbot.waitUntil(lambda: bool(w.server.url), timeout=60_000)
    assert w.state is AppState.IDLE and w.loaded is not None


def test_server_turns_on_and_off_from_settings(qtbot, window):
    w = window
    port = _free_port()
    token = w.settings.server.token
    assert len(token) >= 20  # a random token by default
    assert w.models.loaded_slots == 1  # the app alone loads one KV slot
    _turn_on(qtbot, w, port)
    assert w.models.loaded_slots == SLOTS  # turning it on reloaded the model with the chosen slots
    assert w.server.url == f"http://127.0.0.1:{port}"
    assert f"{port}" in w.settings_panel.server.status.text()
    assert _get(port, "/health")[0] == 200
    assert _get(port, "/v1/models")[0] == 401  # the token is required
    status, models = _get(port, "/v1/models", token)
    assert status == 200 and models["data"][0]["id"] == w.loaded.info.name
    qtbot.waitUntil(lambda: w.metrics.server.isVisibleTo(w) and "queued" in w.metrics.server.text(), timeout=2000)
    saved = w.settings.server
    assert (saved.enabled, saved.port, saved.slots) == (True, port, SLOTS)

    w.settings_panel.server.switch.setChecked(False)
    qtbot.waitUntil(lambda: not w.server.url and w.settings_panel.server.status.text() == "Off", timeout=20_000)
    with pytest.raises(OSError):
        _get(port, "/health")
    assert w.loaded is not None  # the model stays loaded
    assert not w.metrics.server.isVisibleTo(w)
    assert w.settings.server.enabled is False


def test_port_in_use_is_a_notice_and_the_switch_goes_back_off(qtbot, window):
    w = window
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        w.settings_panel.server.port.setValue(port)
        w.settings_panel.server.switch.setChecked(True)
        qtbot.waitUntil(lambda: any("local server" in n.text for n in w.chat.notices), timeout=60_000)
    assert not w.settings_panel.server.switch.isChecked()
    assert w.settings.server.enabled is False and not w.server.url
    assert w.loaded is not None


def test_the_apps_chat_is_one_sequence_among_the_servers(qtbot, window):
    w = window
    port = _free_port()
    _turn_on(qtbot, w, port)
    scheduler = w.bridge.engine.backend._server.scheduler
    submitted: list[object] = []
    original = scheduler.submit

    def spy(prompt, params, deliver, cancel=None):
        submitted.append(getattr(deliver, "__self__", None))
        return original(prompt, params, deliver, cancel)

    scheduler.submit = spy
    client = openai.OpenAI(base_url=f"{w.server.url}/v1", api_key=w.settings.server.token, max_retries=0)
    results: queue.Queue = queue.Queue()

    def ask() -> None:
        try:
            stream = client.chat.completions.create(
                model=w.loaded.info.name, messages=[{"role": "user", "content": "Tell me about rivers."}],
                max_tokens=48, temperature=0, stream=True)
            results.put("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            results.put(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    count = w.replies_finished
    w.send("What is the capital of France?")
    qtbot.waitUntil(lambda: w.replies_finished > count and w.state is AppState.IDLE, timeout=60_000)
    thread.join(60)
    answer = results.get_nowait()
    assert isinstance(answer, str) and answer
    final = w.last_finished
    assert final.finish_reason in ("stop", "length") and final.generated_tokens > 0
    assert any(isinstance(d, queue.Queue) for d in submitted)  # the app's reply came through the scheduler
    assert len(submitted) == 2  # and the client's request beside it


def test_gui_never_stalls_while_four_clients_stream(qtbot, window):
    w = window
    _turn_on(qtbot, w, _free_port())
    client = openai.OpenAI(base_url=f"{w.server.url}/v1", api_key=w.settings.server.token, max_retries=0)
    tokens: list[int] = []
    errors: list[BaseException] = []

    def stream(i: int) -> None:
        try:
            chunks = client.chat.completions.create(
                model=w.loaded.info.name, messages=[{"role": "user", "content": f"Write a story about boat {i}."}],
                max_tokens=64, temperature=0, stream=True, stream_options={"include_usage": True})
            for chunk in chunks:
                if chunk.usage is not None:
                    tokens.append(chunk.usage.completion_tokens)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    heartbeat = Heartbeat()
    loads: list[object] = []
    threads = [threading.Thread(target=stream, args=(i,)) for i in range(4)]
    heartbeat.start()
    for t in threads:
        t.start()

    def done() -> bool:
        load = w.bridge.engine.backend.server_load()
        if load is not None and load.active:
            loads.append(load)
        return not any(t.is_alive() for t in threads)

    qtbot.waitUntil(done, timeout=120_000)
    heartbeat.stop()
    gaps = heartbeat.gaps
    assert not errors, errors
    assert len(tokens) == 4 and sum(tokens) >= 4 * 16
    assert max(load.active for load in loads) >= 2  # they really streamed together
    assert len(gaps) > 50
    print(f"largest gap {max(gaps) * 1000:.0f} ms over {len(gaps)} ticks; {sum(tokens)} tokens, "
          f"peak {max(load.active for load in loads)} active, {max(load.decode_tps for load in loads):.0f} tok/s")
    assert max(gaps) < 0.100, f"GUI thread stalled for {max(gaps) * 1000:.0f} ms"


def test_a_server_that_was_on_starts_again_after_the_model_auto_loads(qtbot, window):
    w = window
    port = _free_port()
    _turn_on(qtbot, w, port)
    w.shutdown()  # saves the settings; the server stops first
    with pytest.raises(OSError):
        _get(port, "/health")
    saved, _ = settings_io.load()
    assert saved.server.enabled and saved.server.port == port and saved.last_model
    w2 = MainWindow()
    qtbot.addWidget(w2)
    try:
        qtbot.waitUntil(lambda: bool(w2.server.url), timeout=60_000)
        assert _get(port, "/health")[0] == 200
        assert w2.settings.server.token == saved.server.token
    finally:
        w2.shutdown()


def test_server_prefs_take_defaults_for_bad_values():
    problems: list[str] = []
    prefs = ServerPrefs.from_json({"enabled": "yes", "port": 80, "slots": 99, "token": 5}, problems)
    assert (prefs.enabled, prefs.port, prefs.slots) == (False, 8080, 4) and len(prefs.token) >= 20
    assert len(problems) == 4
    assert ServerPrefs.from_json({"port": 9000, "token": "abc"}, []).to_json()["port"] == 9000
