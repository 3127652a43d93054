"""``RemoteBackend``: the engine's ``Backend`` interface over an OpenAI-compatible server.

The app's worker and the CLI drive it exactly like ``engine.generation.backend.EngineBackend``:
``load`` picks a model (no weights move; the server already holds them), ``stream``
yields ``GenerationEvent`` objects, ``cancel`` is a ``threading.Event``. What a remote
server cannot do is said plainly: speculation other than ``off`` raises
``RemoteUnsupportedError``, ``compatible_drafts`` is empty, token counts are estimates.

Typical use::

    backend = RemoteBackend(provider, api_key=KeyStore().get(provider.name))
    models = backend.list_models()              # GET {base}/models
    info, report = backend.load(models[0].id)   # report.device == "remote: host:port"
    for event in backend.stream(messages, params, "stop", cancel, lambda _: None):
        ...                                     # event.notices on the first one
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine.core.events import GenerationEvent, LoadOptions, LoadReport, ModelInfo, OverflowPolicy, SamplingParams
from engine.remote.client import RemoteClient, RemoteModel, Timeouts
from engine.remote.errors import RemoteNotFoundError, RemoteUnsupportedError
from engine.remote.providers import Provider
from engine.remote.request import Message, chat_body, ignored_notice, ignored_settings
from engine.remote.stream import stream_reply


class RemoteBackend:
    """One provider's server; one selected model at a time."""

    def __init__(self, provider: Provider, api_key: str | None = None) -> None:
        self.provider = provider
        self.client = RemoteClient(provider.base_url, api_key, Timeouts(read=provider.timeout_s),
                                   verify=provider.ca_file or True)
        self.model: RemoteModel | None = None
        self._noticed: set[str] = set()

    @property
    def device(self) -> str:
        """What the metrics bar shows as the device, e.g. ``remote: gpu-box:8000``."""
        return f"remote: {self.provider.host}"

    def close(self) -> None:
        """Close the connection pool (after the last stream)."""
        self.client.close()

    def list_models(self) -> list[RemoteModel]:
        """``GET {base}/models``. Raises ``RemoteError`` subclasses (the dialog then lets the user type an id)."""
        return self.client.list_models()

    def load(self, folder: str, options: LoadOptions = LoadOptions()) -> tuple[ModelInfo, LoadReport]:
        """Select the model ``folder`` (a model id) after checking the server lists it.

        A server without a model list (404 on ``/models``) is taken at its word: the
        id is used as typed, and a wrong one fails on the first reply. ``options``
        (provider, threads, context) are the server's business and are not used.

        Raises:
            RemoteNotFoundError: the server lists models and ``folder`` is not one of them.
            RemoteError: the server cannot be reached or refuses the key.
        """
        model_id = folder.strip()
        if not model_id:
            raise RemoteNotFoundError(f"Pick a model of {self.provider.host}, or type its id.")
        try:
            listed = self.client.list_models()
        except RemoteNotFoundError:
            listed = []
        found = next((m for m in listed if m.id == model_id), None)
        if listed and found is None:
            names = ", ".join(m.id for m in listed[:10])
            raise RemoteNotFoundError(f"{self.provider.host} has no model {model_id!r}; it has: {names}.")
        self.model = found or RemoteModel(model_id)
        self._noticed.clear()
        return self.info(), LoadReport(provider="remote", device=self.device)

    def info(self) -> ModelInfo:
        """The selected model as the picker describes it (sizes unknown: zeros)."""
        model = self._selected()
        return ModelInfo(
            name=model.id, path=remote_path(self.provider, model.id), layout="remote", architecture="remote",
            parameters=0, layers=0, heads=0, kv_heads=0, head_size=0, hidden_size=0, vocab_size=0,
            max_context=model.context_length, precision="remote", size_bytes=0, kv_bytes_per_token=0,
        )

    def unload(self) -> None:
        self.model = None

    def ignored_settings(self, params: SamplingParams) -> list[str]:
        """Settings in ``params`` this provider's server would not apply (labels, e.g. ``"min-p"``)."""
        return ignored_settings(self.provider.kind, params)

    def stream(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        policy: OverflowPolicy,
        cancel: threading.Event,
        on_prefill: Callable[[Any], None],
        continue_last: bool = False,
        prefix_ids: Sequence[int] | None = None,
    ) -> Iterator[GenerationEvent]:
        """Stream a reply; ``policy``, ``on_prefill`` and ``prefix_ids`` have no effect (the server owns
        its context and its tokenizer: an unfinished reply is continued from its text).

        The first event carries a notice listing ignored settings the first time a
        given set is used with this model. A prompt too long for the server's
        context comes back as the server's own 400 message (``RemoteError``).
        """
        model = self._selected()
        if continue_last and self.provider.kind != "vllm":
            raise RemoteUnsupportedError("Continuing a reply works with vLLM only among remote servers; "
                                         "regenerate it instead.")
        notices = []
        notice = ignored_notice(self.provider.kind, params)
        if notice and notice not in self._noticed:
            self._noticed.add(notice)
            notices.append(notice)
        body = chat_body(self.provider.kind, model.id, messages, params, continue_last)
        estimate = sum(self.estimate_tokens(m["content"]) + 4 for m in messages)
        return stream_reply(self.client, body, cancel, estimate, model.context_length, tuple(notices))

    def count_tokens(self, text: str) -> int:
        """An estimate: the server's tokenizer is not here."""
        return self.estimate_tokens(text)

    @staticmethod
    def estimate_tokens(text: str) -> int:
        return max(1, len(text) // 4)

    def render_prompt(self, messages: Sequence[Message]) -> str:
        """The messages as sent; the server applies its own chat template, which Hearth cannot see."""
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)

    def set_speculation(self, mode: str, draft_folder: str | None = None) -> None:
        if mode not in ("off", "lookup", "draft"):
            raise ValueError(f"unknown speculation mode {mode!r}")
        if mode != "off":
            raise RemoteUnsupportedError("Speculative decoding runs in Hearth's own engine; a remote server decodes "
                                         "its own way. Turn speculation off for remote models.")

    def compatible_drafts(self, folders: Sequence[str]) -> list[str]:
        return []

    def _selected(self) -> RemoteModel:
        if self.model is None:
            raise RemoteNotFoundError(f"No model of {self.provider.host} is selected. Pick one and press Load.")
        return self.model


def remote_path(provider: Provider, model_id: str) -> str:
    """The ``ModelInfo.path`` of a remote model: where the history says a reply ran."""
    return f"remote://{provider.name}/{model_id}"
