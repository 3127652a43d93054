"""The worker bridge with a scripted fake engine: signal order, cancel, errors."""

from __future__ import annotations

import threading

import pytest

from app.bridge import Bridge, GenerationRequest, LoadRequest
from app.prompt import Turn
from engine.events import LoadOptions, SamplingParams
from tests.app.fakes import ScriptedBackend


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


def _record(bridge: Bridge) -> list[tuple]:
    seen: list[tuple] = []
    e = bridge.engine
    e.model_loaded.connect(lambda m: seen.append(("loaded", m.info.name)))
    e.prefill_progressed.connect(lambda rid, p: seen.append(("prefill", p.done, p.total)))
    e.token_generated.connect(lambda rid, ev: seen.append(("token", ev.text)))
    e.generation_finished.connect(lambda rid, ev: seen.append(("finished", ev.finish_reason)))
    e.failed.connect(lambda f: seen.append(("failed", f.kind, f.message)))
    return seen


def _request(rid: int = 1, **params) -> GenerationRequest:
    return GenerationRequest(rid, (Turn("user", "hi"),), SamplingParams(**params), system_prompt="Be brief.")


def test_signals_arrive_in_order(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend())
    seen = _record(bridge)
    with qtbot.waitSignal(bridge.engine.model_loaded, timeout=5000):
        bridge.load_requested.emit(LoadRequest("/x", LoadOptions(context_length=1024)))
    with qtbot.waitSignal(bridge.engine.generation_finished, timeout=5000):
        bridge.generate(_request())
    assert seen == [
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
    with qtbot.waitSignal(bridge.engine.model_loaded, timeout=5000):
        bridge.load_requested.emit(LoadRequest("/x", LoadOptions()))
    assert threads and threads[0] is not threading.main_thread()


def test_cancel_mid_stream_stops_it(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(words=[f" w{i}" for i in range(200)], delay=0.01))
    seen = _record(bridge)
    first = []
    bridge.engine.token_generated.connect(lambda rid, ev: first or (first.append(1), bridge.cancel()))
    with qtbot.waitSignal(bridge.engine.generation_finished, timeout=5000) as blocker:
        bridge.generate(_request())
    assert blocker.args[1].finish_reason == "cancelled"
    tokens = [s for s in seen if s[0] == "token"]
    assert 1 <= len(tokens) < 50


def test_cancel_before_the_request_runs(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend())
    request = _request()
    with qtbot.waitSignal(bridge.engine.generation_finished, timeout=5000) as blocker:
        bridge.generate(request)
        bridge.cancel()
    assert blocker.args[1].finish_reason == "cancelled"


def test_load_error_surfaces_as_failure(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(fail_load="model.onnx is truncated"))
    with qtbot.waitSignal(bridge.engine.failed, timeout=5000) as blocker:
        bridge.load_requested.emit(LoadRequest("/x", LoadOptions()))
    assert blocker.args[0].kind == "load"
    assert "truncated" in blocker.args[0].message


def test_errors_never_enter_the_token_stream(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(error_event_after=2))
    seen = _record(bridge)
    with qtbot.waitSignal(bridge.engine.generation_finished, timeout=5000):
        bridge.generate(_request())
    assert [s for s in seen if s[0] == "token"] == [("token", "Hello"), ("token", " there")]
    assert ("failed", "generate", "the device went away") in seen
    assert seen[-1] == ("finished", "error")


def test_exception_before_streaming_becomes_failure_then_finished(qtbot, make_bridge):
    bridge = make_bridge(ScriptedBackend(fail_stream="This chat is 5000 tokens"))
    seen = _record(bridge)
    with qtbot.waitSignal(bridge.engine.generation_finished, timeout=5000):
        bridge.generate(_request())
    assert seen[0][:2] == ("failed", "generate") and "5000 tokens" in seen[0][2]
    assert seen[-1] == ("finished", "error")
