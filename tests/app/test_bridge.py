"""The worker bridge with a scripted fake engine: signal order, cancel, errors."""

from __future__ import annotations

import threading

import pytest

from app.bridge import Bridge, GenerationRequest, LoadRequest
from engine.core.events import LoadOptions, SamplingParams
from engine.generation.prompt import Turn
from tests.app.fakes import ScriptedBackend, SignalLog


@pytest.fixture
def make_bridge(qtbot):
    bridges = []

    def make(backend):
        bridge = Bridge(backend)
        bridges.append(bridge)
        return bridge

    yield make
    for bridge in bridges:
        bridge.shutdown()


def _request(rid: int = 1, **params) -> GenerationRequest:
    return GenerationRequest(rid, (Turn("user", "hi"),), SamplingParams(**params), system_prompt="Be brief.")


def _finish(qtbot, log: SignalLog, n: int = 1) -> None:
    qtbot.waitUntil(lambda: len(log.finished) >= n, timeout=5000)


def test_signals_arrive_in_order(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend())
    log = SignalLog(bridge.engine)
    bridge.load_requested.emit(LoadRequest("/x", LoadOptions(context_length=1024)))
    bridge.generate(_request())
    _finish(qtbot, log)
    assert log.seen == [
        ("loaded", "fake-model"),
        ("prefill", 5, 10),
        ("prefill", 10, 10),
        ("token", "Hello"),
        ("token", " there"),
        ("token", ","),
        ("token", " friend"),
        ("token", "."),
        ("finished", "stop"),
    ]
    assert bridge.engine.last_messages == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    )


def test_slots_run_on_the_worker_thread(qtbot, make_bridge):
    backend = ScriptedBackend()
    threads = []
    original = backend.load
    backend.load = lambda *a: (threads.append(threading.current_thread()), original(*a))[1]
    bridge = make_bridge(backend)
    log = SignalLog(bridge.engine)
    bridge.load_requested.emit(LoadRequest("/x", LoadOptions()))
    qtbot.waitUntil(lambda: bool(log.seen), timeout=5000)
    assert threads and threads[0] is not threading.main_thread()


def test_cancel_mid_stream_stops_it(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(words=[f" w{i}" for i in range(200)], delay=0.01))
    log = SignalLog(bridge.engine, on_token=lambda ev: bridge.cancel())  # runs on the GUI thread
    bridge.generate(_request())
    _finish(qtbot, log)
    assert log.finished[0].finish_reason == "cancelled"
    assert 1 <= len(log.tokens) < 50


def test_cancel_before_the_request_runs(qtbot, make_bridge):
    import time

    backend = ScriptedBackend()
    original = backend.load
    backend.load = lambda *a: (time.sleep(0.3), original(*a))[1]  # keeps the worker busy
    bridge = make_bridge(backend)
    log = SignalLog(bridge.engine)
    bridge.load_requested.emit(LoadRequest("/x", LoadOptions()))
    bridge.generate(_request())
    bridge.cancel()
    _finish(qtbot, log)
    assert log.finished[0].finish_reason == "cancelled"
    assert log.tokens == []


def test_load_error_surfaces_as_failure(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(fail_load="model.onnx is truncated"))
    log = SignalLog(bridge.engine)
    bridge.load_requested.emit(LoadRequest("/x", LoadOptions()))
    qtbot.waitUntil(lambda: bool(log.seen), timeout=5000)
    assert log.seen[0][:2] == ("failed", "load") and "truncated" in log.seen[0][2]


def test_errors_never_enter_the_token_stream(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(error_event_after=2))
    log = SignalLog(bridge.engine)
    bridge.generate(_request())
    _finish(qtbot, log)
    assert [s for s in log.seen if s[0] == "token"] == [("token", "Hello"), ("token", " there")]
    assert ("failed", "generate", "the device went away") in log.seen
    assert log.seen[-1] == ("finished", "error")


def test_exception_before_streaming_becomes_failure_then_finished(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(fail_stream="This chat is 5000 tokens"))
    log = SignalLog(bridge.engine)
    bridge.generate(_request())
    _finish(qtbot, log)
    assert log.seen[0][:2] == ("failed", "generate") and "5000 tokens" in log.seen[0][2]
    assert log.seen[-1] == ("finished", "error")


def test_frozen_app_never_spawns_itself_to_install_or_convert(qtbot, monkeypatch):
    """In a PyInstaller bundle sys.executable is the app: fail at once with a message to act on."""
    import subprocess
    import sys

    from app.bridge import ConvertRequest, JobWorker

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail(f"spawned {a[0]}"))
    worker = JobWorker(len)
    failures = []
    worker.failed.connect(failures.append)  # same thread: a direct call
    worker.install_default()
    worker.convert(ConvertRequest("/models/x.gguf", "/models/out"))
    assert [f.kind for f in failures] == ["install", "convert"]
    for failure in failures:
        assert "packaged Hearth app does not include the converter" in failure.message
        assert "hearth-cli models install-default" in failure.message
        assert "Add model folder…" in failure.message


def test_cancelling_a_queued_install_cancels_that_install(qtbot, make_bridge, monkeypatch):
    """Cancel pressed while the install waits behind another job must not be lost."""
    import subprocess

    import engine.generation.backend
    import engine.convert.pipeline
    from tests.app.fakes import fake_info

    started, release = threading.Event(), threading.Event()

    def slow_read_info(folder):  # keeps the jobs thread busy
        started.set()
        release.wait(10)
        return fake_info()

    spawned: list = []

    def popen(cmd, **kwargs):
        spawned.append(cmd)
        raise OSError("no child processes in this test")

    monkeypatch.setattr(engine.generation.backend, "read_info", slow_read_info)
    monkeypatch.setattr(engine.convert.pipeline, "require_convert_extra", lambda: None)
    monkeypatch.setattr(subprocess, "Popen", popen)
    bridge = make_bridge(ScriptedBackend())
    failures: list = []
    bridge.jobs.failed.connect(failures.append)
    bridge.inspect_requested.emit("/busy")
    assert started.wait(5)
    bridge.install_default_requested.emit()  # queued behind the inspection
    bridge.cancel_job()
    release.set()
    qtbot.waitUntil(lambda: any(f.kind == "install" for f in failures), timeout=5000)
    assert [f.message for f in failures if f.kind == "install"] == ["Cancelled."]
    assert spawned == []
    # The cancel belonged to that install only: the next one runs.
    bridge.install_default_requested.emit()
    qtbot.waitUntil(lambda: len(spawned) >= 1, timeout=5000)
    assert len(spawned) == 1, spawned
