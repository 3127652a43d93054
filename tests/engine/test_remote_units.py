"""Pure parts of the remote backend: SSE framing, request bodies, ignored settings,
the providers file and the key store (keyring's fail backend and an in-memory one)."""

from __future__ import annotations

import json

import pytest

from engine.core.events import SamplingParams
from engine.remote.errors import KeyStoreError
from engine.remote.keys import NO_KEYRING, KeyStore
from engine.remote.providers import (PRESETS, Provider, ProviderError, add_provider, find_provider, load_providers,
                                     remove_provider)
from engine.remote.request import chat_body, ignored_notice, ignored_settings
from engine.remote.sse import SSEDecoder


def _events(*chunks: bytes):
    return list(SSEDecoder().iter_bytes(chunks))


def test_sse_data_lines_join_and_comments_are_skipped():
    events = _events(b": keep-alive\n\ndata: {\"a\":\ndata: 1}\n\nevent: error\ndata: x\n\n")
    assert [(e.event, e.data) for e in events] == [(None, '{"a":\n1}'), ("error", "x")]


def test_sse_lines_split_anywhere_across_chunks_and_line_ends():
    text = "data: héllo\r\n\r\ndata: [DONE]\r\n\r\n".encode()
    whole = _events(text)
    for cut in range(1, len(text)):
        assert _events(text[:cut], text[cut:]) == whole
    assert [e.data for e in whole] == ["héllo", "[DONE]"]
    assert [e.data for e in _events(b"data: a\r", b"\n\r", b"\ndata: b\r\r")] == ["a", "b"]


def test_sse_an_event_without_its_blank_line_is_dropped():
    assert [e.data for e in _events(b"data: whole\n\ndata: {\"cut")] == ["whole"]


def test_sse_field_without_space_and_id_retry():
    (event,) = _events(b"data:x\nid: 7\nretry: 30\n\n")
    assert (event.data, event.id, event.retry) == ("x", "7", 30)


def test_the_body_carries_openai_fields_and_only_extras_the_kind_takes():
    params = SamplingParams(temperature=0.7, top_p=0.9, top_k=40, min_p=0.05, repetition_penalty=1.1, seed=3,
                            max_new_tokens=99, stop=("END",), logprobs=True, top_logprobs=2)
    msgs = [{"role": "user", "content": "hi"}]
    plain = chat_body("openai", "m", msgs, params)
    assert plain == {"model": "m", "messages": msgs, "stream": True, "stream_options": {"include_usage": True},
                     "temperature": 0.7, "max_tokens": 99, "top_p": 0.9, "stop": ["END"], "seed": 3,
                     "logprobs": True, "top_logprobs": 2}
    llama = chat_body("llamacpp", "m", msgs, params)
    assert (llama["top_k"], llama["min_p"], llama["repeat_penalty"]) == (40, 0.05, 1.1)
    assert chat_body("vllm", "m", msgs, params)["repetition_penalty"] == 1.1
    assert "top_k" not in chat_body("hearth", "m", msgs, params)  # Hearth's server refuses unknown fields


def test_ignored_settings_name_only_what_was_changed():
    assert ignored_settings("openai", SamplingParams()) == []
    params = SamplingParams(top_k=40, min_p=0.1, repetition_penalty=1.2)
    assert ignored_settings("openai", params) == ["top-k", "min-p", "repetition penalty"]
    assert ignored_settings("lmstudio", params) == ["min-p"]
    assert ignored_settings("vllm", params) == []
    assert ignored_notice("ollama", SamplingParams(min_p=0.1)) == "This server does not take min-p; it is not applied."


def test_presets_have_the_documented_default_addresses():
    assert {k: p.base_url for k, p in PRESETS.items() if k not in ("openai", "hearth")} == {
        "vllm": "http://localhost:8000/v1", "ollama": "http://localhost:11434/v1",
        "llamacpp": "http://localhost:8080/v1", "lmstudio": "http://localhost:1234/v1",
        "tgi": "http://localhost:8080/v1", "nim": "http://localhost:8000/v1"}


def test_providers_file_round_trip_without_keys(tmp_path):
    path = tmp_path / "providers.json"
    add_provider(Provider("box", "http://gpu-box:8000/v1", "vllm", model="llama"), path=path)
    add_provider(Provider("ollama", PRESETS["ollama"].base_url, "ollama"), path=path)
    assert [p.name for p in load_providers(path)] == ["box", "ollama"]
    assert find_provider("box", load_providers(path)).host == "gpu-box:8000"
    with pytest.raises(ProviderError, match="exists already"):
        add_provider(Provider("box", "http://x:1/v1"), path=path)
    remove_provider("ollama", path=path)
    data = json.loads(path.read_text())
    assert [p["name"] for p in data["providers"]] == ["box"]
    assert not any("key" in field for p in data["providers"] for field in p)
    with pytest.raises(ProviderError, match="No remote provider is named 'gone'.*box"):
        find_provider("gone", load_providers(path))


def test_a_hand_written_key_in_the_file_is_not_read_and_is_dropped(tmp_path):
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"providers": [{"name": "a", "base_url": "http://h:1/v1", "api_key": "sk-x"}]}))
    (provider,) = load_providers(path)
    assert not hasattr(provider, "api_key")
    add_provider(Provider("b", "http://h:2/v1"), path=path)
    assert "sk-x" not in path.read_text()


def test_damaged_providers_file_and_bad_entries_are_clear(tmp_path):
    path = tmp_path / "providers.json"
    path.write_text("{not json")
    with pytest.raises(ProviderError, match="damaged"):
        load_providers(path)
    assert path.read_text() == "{not json"  # left for the user to fix
    with pytest.raises(ProviderError, match="not a server address"):
        Provider("x", "localhost:8000")
    with pytest.raises(ProviderError, match="key field"):
        Provider("x", "http://user:sk@h/v1")


def test_without_a_keyring_keys_are_kept_for_the_session_only():
    from keyring.backends import fail

    store = KeyStore(fail.Keyring())
    assert not store.persistent and store.notice == NO_KEYRING
    with pytest.raises(KeyStoreError, match="No system keyring"):
        store.set("box", "sk-1")
    assert store.set("box", "sk-1", session_only=True) == "session"
    assert store.get("box") == "sk-1"
    assert KeyStore(fail.Keyring()).get("box") is None  # a new session has forgotten it
    store.delete("box")
    assert store.get("box") is None


def test_with_a_keyring_keys_go_there():
    from tests.engine.test_remote_faults import MemoryKeyring

    backend = MemoryKeyring()
    store = KeyStore(backend)
    assert store.persistent and store.notice is None
    assert store.set("box", "sk-2") == "keyring"
    assert backend.store == {("Hearth", "box"): "sk-2"}
    assert KeyStore(backend).get("box") == "sk-2"
    store.delete("box")
    assert backend.store == {}
