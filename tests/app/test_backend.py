"""EngineBackend across threads: the jobs thread counts tokens while the engine thread loads."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from engine.core.events import LoadOptions
from engine.generation.backend import EngineBackend


class _Codec:
    def encode(self, text: str) -> list[int]:
        return [0] * len(text.split())


class _Model:
    """Just what count_tokens reads from a loaded model."""

    def __init__(self) -> None:
        self.codec = _Codec()
        self.info = self.report = None


def _yield_between_opcodes(frame, event, arg):
    """A tracer that lets other threads run between any two bytecodes of the backend's methods.

    CPython rarely switches threads between a check and the next attribute read, so a
    check-then-use race would almost never show; this makes every interleaving likely.
    """
    if frame.f_code.co_filename.endswith("backend.py"):
        frame.f_trace_opcodes = True
        if event == "opcode":
            time.sleep(0.0002)
        return _yield_between_opcodes
    return None


def test_count_tokens_is_safe_while_the_engine_thread_loads_and_unloads(monkeypatch):
    import engine.runtime.model

    monkeypatch.setattr(engine.runtime.model, "load_model", lambda folder, options=None: _Model())
    backend = EngineBackend()
    stop = threading.Event()
    errors: list[BaseException] = []
    counts: list[int] = []

    def hammer() -> None:
        sys.settrace(_yield_between_opcodes)
        while not stop.is_set():
            try:
                counts.append(backend.count_tokens("one two three four five six seven eight"))
            except BaseException as exc:  # noqa: BLE001 - the test collects what the race raises
                errors.append(exc)
                return

    def engine_thread() -> None:
        while not stop.is_set():
            backend.load("/fake", LoadOptions())
            backend.unload()

    threads = [threading.Thread(target=hammer) for _ in range(3)] + [threading.Thread(target=engine_thread)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(5)
    assert errors == []
    # With a model: the tokenizer's count (8); without: the stated rough estimate.
    assert set(counts) <= {8, EngineBackend.estimate_tokens("one two three four five six seven eight")}


def test_a_failed_load_leaves_no_model(monkeypatch):
    """What the window relies on: the old model is freed first, so after a failure none is loaded."""
    import engine.runtime.model
    from engine.core.errors import ModelLoadError

    backend = EngineBackend()
    monkeypatch.setattr(engine.runtime.model, "load_model", lambda folder, options=None: _Model())
    backend.load("/good", LoadOptions())
    assert backend.model is not None

    def fail(folder, options=None):
        raise ModelLoadError("model.onnx is truncated")

    monkeypatch.setattr(engine.runtime.model, "load_model", fail)
    with pytest.raises(ModelLoadError):
        backend.load("/bad", LoadOptions())
    assert backend.model is None
    assert backend.render_prompt([{"role": "user", "content": "hi"}]) == ""
