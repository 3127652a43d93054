"""The HTTP side of a remote backend: list models, open a streamed chat completion.

The client is httpx2, the maintained line of httpx (same author and API; the
official openai client moved to it, so it is already in every Hearth venv).
Why httpx rather than the openai client: Hearth needs the raw byte stream (to
detect a reply cut before ``[DONE]``, to close it from another thread the moment
the user presses Stop, to read servers' non-standard fields such as vLLM's
``max_model_len``), exact timeouts per phase (connect, read between chunks,
write), and no automatic retries: the openai client retries a POST, which could
send a chat message twice. httpx gives streaming, per-phase timeouts and TLS
through the OS trust store (truststore), and is well kept.

Every failure leaves as a ``RemoteError`` subclass naming the host.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

from engine.remote import errors as e


@dataclass(frozen=True)
class Timeouts:
    """Seconds for each phase; ``read`` is the longest silence allowed between two chunks."""

    connect: float = 10.0
    read: float = 120.0  # a big model's prefill of a long prompt can take this long before the first chunk
    write: float = 30.0


@dataclass(frozen=True)
class RemoteModel:
    """One entry of ``GET {base}/models``; ``context_length`` is 0 when the server does not say."""

    id: str
    owned_by: str = ""
    context_length: int = 0


class RemoteClient:
    """One server: its base URL (ending in ``/v1``, as the servers document it) and its key."""

    def __init__(self, base_url: str, api_key: str | None = None, timeouts: Timeouts = Timeouts(),
                 verify: bool | str = True) -> None:
        self.base_url = base_url.rstrip("/")
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise e.RemoteError(f"{base_url!r} is not a server address: give one like http://localhost:8000/v1.")
        self.host = url.host if url.port is None else f"{url.host}:{url.port}"
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if isinstance(verify, str):  # a CA file: httpx2 deprecates the path string, so give it a context
            try:
                verify = ssl.create_default_context(cafile=verify)
            except (OSError, ssl.SSLError) as exc:
                raise e.RemoteTLSError(f"The CA file {verify!r} for {self.host} could not be read: {_reason(exc)}.") \
                    from None
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.write,
                                  pool=timeouts.connect),
            verify=verify,
            follow_redirects=False,  # a redirect of a POST could replay it; say so instead
        )

    def close(self) -> None:
        self._http.close()

    def list_models(self) -> list[RemoteModel]:
        """``GET {base}/models``, in the server's order."""
        with self._guard():
            response = self._http.get(f"{self.base_url}/models")
        self._raise_for_status(response.status_code, response.content)
        try:
            data = response.json().get("data")
            models = [_model(entry) for entry in data]
        except (ValueError, AttributeError, TypeError, KeyError):
            raise e.RemoteServerError(f"{self.host} answered GET /models with something that is not a model list. "
                                      "Check that the base URL ends in /v1.") from None
        return models

    @contextmanager
    def chat_stream(self, body: dict[str, Any]) -> Iterator[httpx.Response]:
        """POST a streamed ``/chat/completions``; yields the open response, raising for any non-2xx."""
        with self._guard(), self._http.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
            if response.status_code >= 300:
                self._raise_for_status(response.status_code, response.read())
            yield response

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn httpx's transport errors into ``RemoteError`` subclasses naming the host."""
        try:
            yield
        except httpx.TimeoutException as exc:
            phase = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "answer",
                     httpx.WriteTimeout: "take the request", httpx.PoolTimeout: "connect"}.get(type(exc), "answer")
            raise e.RemoteTimeoutError(f"{self.host} did not {phase} in time ({_reason(exc)}).") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise e.RemoteError(f"{self.base_url!r} is not a usable server address: {exc}") from None
        except httpx.TransportError as exc:
            raise connection_error(self.host, exc) from None

    def _raise_for_status(self, status: int, body: bytes) -> None:
        if status < 300:
            return
        raise status_error(self.host, status, body)


def _model(entry: dict[str, Any]) -> RemoteModel:
    # vLLM says max_model_len; others may say context_length or context_window.
    context = next((entry[k] for k in ("max_model_len", "context_length", "context_window")
                    if isinstance(entry.get(k), int)), 0)
    return RemoteModel(id=str(entry["id"]), owned_by=str(entry.get("owned_by") or ""), context_length=context)


def server_message(body: bytes) -> str:
    """The human part of an error body: OpenAI's ``error.message``, TGI's ``error``, FastAPI's ``detail``."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip()
        return text[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return data[key]
    return json.dumps(data)[:200]


def status_error(host: str, status: int, body: bytes) -> e.RemoteError:
    """The error class and message for an HTTP error status."""
    said = server_message(body)
    said = f" The server said: {said}" if said else ""
    if status in (401, 403):
        return e.RemoteAuthError(f"{host} refused the API key (HTTP {status}). Check the key for this provider.{said}",
                                 status)
    if status == 404:
        return e.RemoteNotFoundError(f"{host} has no such model or endpoint (HTTP 404). Check the model name, and that "
                                     f"the base URL ends in /v1.{said}", status)
    if status == 429:
        return e.RemoteRateLimitError(f"{host} is busy or the key's quota is used up (HTTP 429). Wait a moment and "
                                      f"send again.{said}", status)
    if status >= 500:
        return e.RemoteServerError(f"{host} failed (HTTP {status}). The server's own log says why.{said}", status)
    if 300 <= status < 400:
        return e.RemoteError(f"{host} redirected the request (HTTP {status}); put the final address in the base URL.",
                             status)
    return e.RemoteError(f"{host} refused the request (HTTP {status}).{said}", status)


def connection_error(host: str, exc: BaseException) -> e.RemoteError:
    """A transport failure as a ``RemoteConnectionError`` (``RemoteTLSError`` for certificates and handshakes)."""
    if _has_cause(exc, ssl.SSLError):
        return e.RemoteTLSError(f"A secure connection to {host} failed: {_reason(exc)}. If the server uses a "
                                "self-signed certificate, give its CA file in the provider's settings.")
    reason = _reason(exc)
    if _has_cause(exc, ConnectionRefusedError) or "refused" in reason.lower():
        return e.RemoteConnectionError(f"{host} refused the connection: is the server running on that port?")
    if isinstance(exc, httpx.ConnectError):
        return e.RemoteConnectionError(f"Could not connect to {host}: {reason}.")
    return e.RemoteConnectionError(f"The connection to {host} broke: {reason}.")


def _has_cause(exc: BaseException | None, kind: type[BaseException]) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
