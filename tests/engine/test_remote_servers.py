"""The remote backend against real servers started here on 127.0.0.1, no mock:
Hearth's own ``hearth-cli serve`` and llama-cpp-python's OpenAI server, both on the
default model. Streaming, stop mid-reply, the model list and a follow-up turn."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from engine.core.events import SamplingParams
from engine.remote.backend import RemoteBackend
from engine.remote.providers import Provider
from tests.engine.remote_servers import llama_python, llama_server
from tests.engine.serve_process import serve

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=24)
QUESTION = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module", params=["hearth", "llamacpp"])
def server(request, default_model_dir, default_gguf, tmp_path_factory):
    """(kind, base URL) of a running server; each starts once per module."""
    if request.param == "hearth":
        with serve(default_model_dir, "--parallel", "2") as served:
            yield "hearth", f"{served.base}/v1"
    else:
        log = tmp_path_factory.mktemp("llama") / "server.log"
        with llama_server(llama_python(), default_gguf, log) as base:
            yield "llamacpp", base


@pytest.fixture
def backend(server):
    kind, base = server
    remote = RemoteBackend(Provider(name=f"test-{kind}", base_url=base, kind=kind))
    models = remote.list_models()
    remote.load(models[0].id)
    yield remote
    remote.close()


def _run(backend: RemoteBackend, messages, params=GREEDY, cancel=None):
    return list(backend.stream(messages, params, "stop", cancel or threading.Event(), lambda _: None))


def test_model_list_and_load(server):
    kind, base = server
    remote = RemoteBackend(Provider(name="t", base_url=base, kind=kind))
    models = remote.list_models()
    assert len(models) == 1 and models[0].id
    info, report = remote.load(models[0].id)
    assert info.name == models[0].id and info.layout == "remote"
    assert report.device == f"remote: 127.0.0.1:{base.split(':')[2].split('/')[0]}"
    if kind == "hearth":
        assert info.max_context == 2048  # the server's max_model_len


def test_streams_a_reply_with_client_figures(backend):
    events = _run(backend, QUESTION)
    assert len(events) > 3  # streamed, not one block
    last = events[-1]
    assert last.finish_reason in ("stop", "length") and last.error is None
    text = "".join(e.text for e in events)
    assert text.strip()
    assert last.ttft_s is not None and 0 < last.ttft_s < 60
    assert last.decode_tps and last.decode_tps > 0
    assert last.generated_tokens > 0 and last.prompt_tokens > 0
    assert all(e.finish_reason is None for e in events[:-1])


def test_greedy_replies_agree_between_servers_and_runs(backend):
    # Greedy decoding of one model: the same server answers the same words twice.
    first = "".join(e.text for e in _run(backend, QUESTION))
    second = "".join(e.text for e in _run(backend, QUESTION))
    assert first == second


def test_stop_mid_reply_ends_the_stream_at_once(backend):
    cancel = threading.Event()
    events, stopped_at = [], None
    for event in backend.stream(QUESTION, SamplingParams(temperature=0.0, max_new_tokens=400, ignore_eos=False),
                                "stop", cancel, lambda _: None):
        events.append(event)
        if len(events) == 3:
            stopped_at = time.monotonic()
            cancel.set()
    assert events[-1].finish_reason == "cancelled"
    assert time.monotonic() - stopped_at < 1.0
    assert "".join(e.text for e in events[:3])  # what came before Stop is kept


def test_follow_up_turn_sees_the_first(backend):
    turn = [{"role": "user", "content": "My name is Ada. Reply with one word: OK."}]
    first = "".join(e.text for e in _run(backend, turn))
    follow = turn + [{"role": "assistant", "content": first},
                     {"role": "user", "content": "What is my name?"}]
    events = _run(backend, follow, SamplingParams(temperature=0.0, max_new_tokens=16))
    assert events[-1].finish_reason in ("stop", "length")
    assert events[-1].prompt_tokens > _run(backend, turn)[-1].prompt_tokens  # the whole history went
    assert "".join(e.text for e in events).strip()


def test_logprobs_reach_the_events_when_the_server_sends_them(backend):
    events = _run(backend, QUESTION, SamplingParams(temperature=0.0, max_new_tokens=6, logprobs=True,
                                                    top_logprobs=2))
    steps = [e.logprobs for e in events if e.logprobs is not None]
    assert steps, "both servers send log-probabilities"
    assert all(s.chosen.logprob <= 0 for s in steps)
    assert all(len(s.top) >= 1 for s in steps)


def test_ignored_settings_are_noticed_once(backend):
    params = SamplingParams(temperature=0.0, max_new_tokens=4, min_p=0.2, top_k=5)
    first = _run(backend, QUESTION, params)
    again = _run(backend, QUESTION, params)
    notices = [n for e in first for n in e.notices]
    if backend.provider.kind == "hearth":  # Hearth's server takes no extra fields
        assert notices == ["This server does not take top-k, min-p; they are not applied."]
    else:  # llama.cpp's server takes both
        assert notices == []
    assert [n for e in again for n in e.notices] == []


def test_cli_base_url_without_model_uses_the_first_listed(server, tmp_path):
    _, base = server
    result = subprocess.run([sys.executable, "-m", "engine.cli", "generate", "--base-url", base,
                             "Name three colours.", "--max-new-tokens", "12", "--temperature", "0"],
                            capture_output=True, text=True, timeout=120,
                            env={"HEARTH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.strip().splitlines()[-1].startswith("[finish=")
    assert not (tmp_path / "data" / "models").exists()  # no local model was touched
