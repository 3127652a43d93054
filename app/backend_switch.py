"""One backend for the worker that answers from the local engine or from a remote server.

The picker lists remote models as ``remote://<provider>/<model>`` (the ``ModelInfo.path``
a ``RemoteBackend`` reports). Loading such a path opens a ``RemoteBackend`` for that
provider, with its key from the app's ``KeyStore``; loading a folder goes to the local
engine. Only one answers at a time: switching frees the other (the local model's memory,
or the remote connection pool). Everything else the app asks of the backend (the local
server, speculation state) goes to the local engine, which is what those features drive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine.core.errors import EngineError
from engine.core.events import GenerationEvent, LoadOptions, LoadReport, ModelInfo, OverflowPolicy, SamplingParams
from engine.remote.backend import RemoteBackend
from engine.remote.keys import KeyStore
from engine.remote.providers import Provider, ProviderError, find_provider, load_providers

SCHEME = "remote://"

_KEYS: KeyStore | None = None


def key_store() -> KeyStore:
    """The app's one key store: session-only keys live as long as the process."""
    global _KEYS
    if _KEYS is None:
        _KEYS = KeyStore()
    return _KEYS


def is_remote(path: str) -> bool:
    return path.startswith(SCHEME)


def split_remote(path: str) -> tuple[str, str]:
    """``remote://gpu-box/meta-llama/Llama`` -> ``("gpu-box", "meta-llama/Llama")`` (ids may hold slashes)."""
    name, _, model = path[len(SCHEME):].partition("/")
    return name, model


def remote_entries(providers: list[Provider]) -> dict[str, str]:
    """The picker's remote entries, path -> ``host:port``: each provider's chosen model."""
    return {f"{SCHEME}{p.name}/{p.model}": p.host for p in providers if p.model}


def origin_label(origin: str) -> str:
    """How a message's title shows where it ran: ``remote: gpu-box``, or "" for this machine."""
    return f"remote: {split_remote(origin)[0]}" if is_remote(origin) else ""


class BackendSwitch:
    """The ``Backend`` the worker drives; delegates to ``local`` or to the selected remote server."""

    def __init__(self, local: Any, keys: Callable[[], KeyStore] = key_store,
                 providers: Callable[[], list[Provider]] = load_providers) -> None:
        self.local = local
        self.remote: RemoteBackend | None = None
        self._keys, self._providers = keys, providers
        self._lock = threading.Lock()  # close() comes from the GUI thread at quit

    @property
    def active(self) -> Any:
        return self.remote if self.remote is not None else self.local

    def load(self, folder: str, options: LoadOptions = LoadOptions()) -> tuple[ModelInfo, LoadReport]:
        if not is_remote(folder):
            self._drop_remote()
            return self.local.load(folder, options)
        name, model = split_remote(folder)
        try:
            provider = find_provider(name, self._providers())
        except ProviderError as exc:
            raise EngineError(str(exc)) from None
        self._drop_remote()
        remote = RemoteBackend(provider, self._keys().get(name))
        try:
            loaded = remote.load(model, options)
        except BaseException:
            remote.close()
            raise
        self.local.unload()  # one model answers at a time; a local one would only hold memory
        with self._lock:
            self.remote = remote
        return loaded

    def unload(self) -> None:
        if self.remote is not None:
            self._drop_remote()
        else:
            self.local.unload()

    def _drop_remote(self) -> None:
        with self._lock:
            remote, self.remote = self.remote, None
        if remote is not None:
            remote.close()

    def stream(self, messages: Sequence[Any], params: SamplingParams, policy: OverflowPolicy,
               cancel: threading.Event, on_prefill: Callable[[Any], None],
               continue_last: bool = False, prefix_ids: Sequence[int] | None = None) -> Iterator[GenerationEvent]:
        return self.active.stream(messages, params, policy, cancel, on_prefill, continue_last=continue_last,
                                  prefix_ids=prefix_ids)

    def count_tokens(self, text: str) -> int:
        return self.active.count_tokens(text)

    def render_prompt(self, messages: Sequence[Any]) -> str:
        return self.active.render_prompt(messages)

    def set_speculation(self, mode: Any, draft_folder: str | None = None) -> None:
        self.active.set_speculation(mode, draft_folder)

    def compatible_drafts(self, folders: Sequence[str]) -> list[str]:
        return self.active.compatible_drafts(folders)

    def start_server(self, port: int, api_key: str) -> str:
        if self.remote is not None:
            raise EngineError("The local server shares a model loaded on this machine; a remote model is "
                              "selected. Load a local model to serve it.")
        return self.local.start_server(port, api_key)

    def close(self) -> None:
        self._drop_remote()
        close = getattr(self.local, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        # The local server and the speculation state belong to the local engine.
        if name in ("local", "remote", "_keys", "_providers", "_lock"):
            raise AttributeError(name)
        return getattr(self.local, name)
