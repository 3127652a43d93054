"""A streamed chat completion from a remote server, as Hearth's ``GenerationEvent`` stream.

The figures are measured here, on the client: TTFT from sending the request to the
first text, decode tokens/s over the text after it. Token counts come from the
server's ``usage`` when it sends one (``stream_options.include_usage``) and are
otherwise estimated from the text (``extra["estimated"] == 1.0`` says so).

How a reply ends, once the server has accepted it (errors before that raise
``RemoteError`` from ``RemoteClient.chat_stream``):
- ``[DONE]`` or a finish reason: ``stop`` or ``length``.
- Stop pressed (``cancel`` set): the socket is shut at once, even while the server
  is silent; ``cancelled``.
- Anything else (the stream cut before ``[DONE]``, an error object in the stream,
  a timeout between chunks, an unreadable chunk): ``error``, with a message saying
  the reply is incomplete. Every event already yielded stays valid: nothing is
  taken back, and nothing is sent again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx

from engine.core.events import FinishReason, GenerationEvent, StepLogprobs, TokenLogprob
from engine.remote.client import RemoteClient, connection_error
from engine.remote.sse import SSEDecoder

_POLL_S = 0.02  # how often the watcher looks at the cancel flag


@dataclass
class _Tally:
    """The running figures of one reply."""

    started: float
    prompt_tokens: int
    context_size: int
    first: float | None = None
    last: float | None = None
    pieces: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    finish: str | None = None

    def event(self, text: str, logprobs: StepLogprobs | None = None, finish: FinishReason | None = None,
              error: str | None = None, notices: tuple[str, ...] = ()) -> GenerationEvent:
        prompt = int(self.usage.get("prompt_tokens") or self.prompt_tokens)
        generated = int(self.usage.get("completion_tokens") or self.pieces) if finish else self.pieces
        details = self.usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        decode = None
        if self.first is not None and self.last is not None and self.last > self.first and generated > 1:
            decode = (generated - 1) / (self.last - self.first)
        return GenerationEvent(
            text=text, token_id=None, prompt_tokens=prompt, cached_tokens=cached, generated_tokens=generated,
            context_used=prompt + generated, context_size=self.context_size,
            ttft_s=None if self.first is None else self.first - self.started, decode_tps=decode,
            finish_reason=finish, error=error, logprobs=logprobs, notices=notices,
            extra={} if self.usage else {"estimated": 1.0},
        )


def stream_reply(client: RemoteClient, body: dict[str, Any], cancel: threading.Event, prompt_estimate: int,
                 context_size: int = 0, notices: tuple[str, ...] = ()) -> Iterator[GenerationEvent]:
    """Send ``body`` and yield the reply's events; the last one has ``finish_reason`` set.

    Raises:
        RemoteError: (a subclass) before the first event, when the request is refused
            or the server cannot be reached.
    """
    tally = _Tally(time.perf_counter(), prompt_estimate, context_size)
    with client.chat_stream(body) as response:
        done = threading.Event()
        watcher = threading.Thread(target=_close_on_cancel, args=(response, cancel, done), daemon=True,
                                   name="hearth-remote-cancel")
        watcher.start()
        try:
            outcome = yield from _read(response, client.host, cancel, tally, notices)
        finally:
            done.set()
            watcher.join()
    finish, error = outcome
    yield tally.event("", finish=finish, error=error, notices=notices if tally.first is None else ())


def _read(response: httpx.Response, host: str, cancel: threading.Event, tally: _Tally,
          notices: tuple[str, ...]) -> Iterator[GenerationEvent]:
    """Yield text events; return how the reply ended as ``(finish_reason, error)``."""
    cut = (f"The reply was cut off: {host} closed the stream before the reply finished. "
           "The text so far is kept, but it is incomplete.")
    try:
        for sse in SSEDecoder().iter_bytes(response.iter_bytes()):
            if cancel.is_set():
                return "cancelled", None
            if sse.data.startswith("[DONE]"):
                return _finish(tally.finish), None
            try:
                chunk = json.loads(sse.data)
            except ValueError:
                return "error", f"{host} sent a chunk that is not JSON; the reply is incomplete."
            problem = _stream_error(sse.event, chunk)
            if problem is not None:
                return "error", f"{host} reported an error mid-reply: {problem}. The text so far is kept."
            for text, logprobs in _pieces(chunk, tally):
                now = time.perf_counter()
                tally.first = tally.first or now
                tally.last = now
                tally.pieces += 1
                yield tally.event(text, logprobs, notices=notices if tally.pieces == 1 else ())
    except httpx.TimeoutException:
        if cancel.is_set():
            return "cancelled", None
        return "error", f"{host} stopped sending mid-reply (read timeout). The text so far is kept."
    except (httpx.TransportError, httpx.StreamError) as exc:
        if cancel.is_set():
            return "cancelled", None
        return "error", f"{cut} ({connection_error(host, exc)})"
    except UnicodeDecodeError:
        return "error", f"{host} sent text that is not UTF-8; the reply is incomplete."
    if cancel.is_set():
        return "cancelled", None
    if tally.finish is not None:
        return _finish(tally.finish), None  # finished, but the server left out [DONE]: nothing is missing
    return "error", cut


def _pieces(chunk: Any, tally: _Tally) -> Iterator[tuple[str, StepLogprobs | None]]:
    """The text (and log-probabilities) in one chunk; records usage and the finish reason."""
    if not isinstance(chunk, dict):
        return
    if isinstance(chunk.get("usage"), dict):
        tally.usage = chunk["usage"]
    choices = chunk.get("choices") or []
    choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
    if choice is None:
        return
    if choice.get("finish_reason"):
        tally.finish = str(choice["finish_reason"])
    delta = choice.get("delta") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    entries = _logprob_entries(choice.get("logprobs"))
    if not text:
        return
    # One event per token when the server sends several tokens' log-probabilities in one chunk.
    if len(entries) > 1 and "".join(s.chosen.text for s in entries) == text:
        for step in entries:
            yield step.chosen.text, step
        return
    yield text, entries[0] if len(entries) == 1 else None


def _logprob_entries(logprobs: Any) -> list[StepLogprobs]:
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("content"), list):
        return []
    steps = []
    for entry in logprobs["content"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("logprob"), (int, float)):
            continue
        top = tuple(TokenLogprob(-1, float(t["logprob"]), str(t.get("token", "")))
                    for t in entry.get("top_logprobs") or [] if isinstance(t, dict) and "logprob" in t)
        steps.append(StepLogprobs(TokenLogprob(-1, float(entry["logprob"]), str(entry.get("token", ""))), top))
    return steps


def _stream_error(event: str | None, chunk: Any) -> str | None:
    """The message of an error object in the stream (as the openai client reads them), else None."""
    if not isinstance(chunk, dict):
        return None
    error = chunk.get("error")
    if not error and event != "error":
        return None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    return "an error occurred during streaming"


def _finish(reason: str | None) -> FinishReason:
    return "length" if reason == "length" else "stop"


def _close_on_cancel(response: httpx.Response, cancel: threading.Event, done: threading.Event) -> None:
    """Shut the socket when ``cancel`` is set, waking a read that is waiting for a silent server."""
    while not done.is_set():
        if cancel.wait(_POLL_S):
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                try:
                    sock.shutdown(2)  # SHUT_RDWR: close() alone does not wake a blocked recv on Linux
                except OSError:
                    pass
            return
