"""Each failure of a remote server, driven by a fault-injecting proxy in front of Hearth's
real server: the error class or the final event says what happened, the text already
streamed is kept, nothing is sent twice, and Stop returns at once even from a silent server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from engine.core.events import SamplingParams
from engine.remote import errors as e
from engine.remote.backend import RemoteBackend
from engine.remote.keys import KeyStore
from engine.remote.providers import Provider, add_provider, providers_path
from tests.engine.fault_proxy import FaultProxy
from tests.engine.serve_process import free_port, serve

PARAMS = SamplingParams(temperature=0.0, max_new_tokens=40, ignore_eos=True)
ASK = [{"role": "user", "content": "Count from one to twenty in words."}]
SECRET = "sk-test-9f8e7d6c5b4a-never-written"


@pytest.fixture(scope="module")
def proxy(default_model_dir):
    with serve(default_model_dir, "--parallel", "2") as served:
        proxy = FaultProxy(served.port)
        yield proxy
        proxy.close()


def _backend(base_url: str, timeout_s: float = 30.0, key: str | None = None) -> RemoteBackend:
    backend = RemoteBackend(Provider(name="faulty", base_url=base_url, kind="hearth", timeout_s=timeout_s), key)
    backend.load("SmolLM2-135M-Instruct")
    return backend


@pytest.fixture
def backend(proxy):
    proxy.set("pass")
    remote = _backend(proxy.base_url)
    yield remote
    remote.close()
    proxy.set("pass")


def _run(backend: RemoteBackend, cancel: threading.Event | None = None):
    return list(backend.stream(ASK, PARAMS, "stop", cancel or threading.Event(), lambda _: None))


@pytest.mark.parametrize("mode", ["cut", "cut_clean"])
def test_a_stream_cut_mid_reply_keeps_the_text_and_says_so(backend, proxy, mode):
    proxy.set(mode, after=5)
    events = _run(backend)
    last = events[-1]
    assert last.finish_reason == "error"
    assert "cut off" in last.error and "kept" in last.error
    assert "".join(e.text for e in events[:-1])  # the partial reply survives
    assert all(e.finish_reason is None for e in events[:-1])


def test_an_error_object_in_the_stream_ends_it_with_the_servers_words(backend, proxy):
    proxy.set("error_event", after=4)
    events = _run(backend)
    assert events[-1].finish_reason == "error"
    assert "ran out of memory" in events[-1].error
    assert "".join(e.text for e in events)


@pytest.mark.parametrize("status, kind, words", [
    (401, e.RemoteAuthError, "API key"), (403, e.RemoteAuthError, "API key"),
    (404, e.RemoteNotFoundError, "model"), (429, e.RemoteRateLimitError, "busy"),
    (500, e.RemoteServerError, "HTTP 500"), (503, e.RemoteServerError, "HTTP 503"),
])  # fmt: skip
def test_http_errors_raise_their_own_class_and_nothing_is_retried(backend, proxy, status, kind, words):
    proxy.set(f"status:{status}")
    before = len(proxy.seen_auth)
    with pytest.raises(kind, match=words) as caught:
        _run(backend)
    assert caught.value.status == status
    assert "injected" in str(caught.value)  # the server's own message is passed on
    assert len(proxy.seen_auth) == before + 1  # one request: a message is never sent twice


def test_a_stalled_server_times_out_with_the_text_kept(proxy):
    proxy.set("stall", after=4)
    remote = _backend(proxy.base_url, timeout_s=1.0)
    try:
        started = time.monotonic()
        events = _run(remote)
    finally:
        proxy.release.set()
        remote.close()
    assert time.monotonic() - started < 15
    assert events[-1].finish_reason == "error" and "stopped sending" in events[-1].error
    assert "".join(e.text for e in events)


def test_stop_while_the_server_is_silent_returns_at_once(backend, proxy):
    proxy.set("stall", after=4)
    cancel = threading.Event()
    events: list = []
    reader = threading.Thread(target=lambda: events.extend(backend.stream(ASK, PARAMS, "stop", cancel,
                                                                          lambda _: None)))
    reader.start()
    time.sleep(1.5)  # the proxy is now holding the stream open, sending nothing
    pressed = time.monotonic()
    cancel.set()
    reader.join(5)
    proxy.release.set()
    assert not reader.is_alive()
    assert time.monotonic() - pressed < 1.0
    assert events[-1].finish_reason == "cancelled"
    assert "".join(e.text for e in events)


def test_connection_refused_and_tls_failures_raise_clear_errors(proxy):
    port = free_port()  # nothing listens there
    remote = RemoteBackend(Provider(name="down", base_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(e.RemoteConnectionError, match="refused the connection"):
        remote.list_models()
    # https to a plain-HTTP port: the TLS handshake fails.
    tls = RemoteBackend(Provider(name="tls", base_url=f"https://127.0.0.1:{proxy.port}/v1"))
    with pytest.raises(e.RemoteTLSError, match="secure connection"):
        tls.list_models()


def test_a_model_the_server_does_not_list_is_refused_by_name(backend):
    with pytest.raises(e.RemoteNotFoundError, match="no model 'nope'.*SmolLM2"):
        backend.load("nope")


def _run_cli(*args: str, home, key: str | None = None):
    env = {"HEARTH_HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if key:
        env["HEARTH_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("mode, code", [("status:401", 2), ("status:429", 2), ("status:500", 2), ("cut", 1)])
def test_cli_failures_exit_non_zero_with_one_line_and_no_traceback(proxy, tmp_path, mode, code):
    proxy.set(mode, after=5)
    # The model list goes through the proxy too, so name the model to reach the chat request.
    result = _run_cli("generate", "--base-url", proxy.base_url, "--kind", "hearth", "--model",
                      "SmolLM2-135M-Instruct", "Count to twenty.", home=tmp_path)
    proxy.set("pass")
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: " if code == 2 else "[finish=error")


def test_cli_connection_refused_is_one_line(tmp_path):
    result = _run_cli("generate", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "hi", home=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "refused the connection" in result.stderr


class MemoryKeyring:
    """A keyring backend held in memory (the OS keyring's role, for CI that has none)."""

    priority = 1

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, name: str, key: str) -> None:
        self.store[service, name] = key

    def get_password(self, service: str, name: str) -> str | None:
        return self.store.get((service, name))

    def delete_password(self, service: str, name: str) -> None:
        self.store.pop((service, name), None)


def test_the_api_key_reaches_the_server_and_nothing_else(proxy, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path))
    proxy.set("pass")
    keyring = MemoryKeyring()
    store = KeyStore(keyring)
    provider = Provider(name="gpu-box", base_url=proxy.base_url, kind="hearth")
    add_provider(provider)
    assert store.set(provider.name, SECRET) == "keyring"
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG
    remote = RemoteBackend(provider, store.get(provider.name))
    remote.load("SmolLM2-135M-Instruct")
    events = _run(remote)
    remote.close()
    assert events[-1].finish_reason in ("stop", "length")
    assert proxy.seen_auth[-1] == f"Bearer {SECRET}"  # it did reach the server
    assert SECRET not in caplog.text
    assert providers_path().is_file()
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), file
    # The CLI, with the key from the environment and a failing request: not in its output.
    proxy.set("status:401")
    result = _run_cli("generate", "--remote", "gpu-box", "--model", "SmolLM2-135M-Instruct", "hi",
                      home=tmp_path, key=SECRET)
    proxy.set("pass")
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert proxy.seen_auth[-1] == f"Bearer {SECRET}"
