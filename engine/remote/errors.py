"""What can go wrong talking to a remote server, each with a message a person can act on.

Every class is an ``EngineError``, so the CLI prints it as one line and the app's
worker shows it as a notice. ``status`` keeps the HTTP status when there was one.
Failures after a reply has started streaming do not raise: they end the stream
with a ``finish_reason="error"`` event (see ``engine.remote.stream``).
"""

from __future__ import annotations

from engine.core.errors import EngineError


class RemoteError(EngineError):
    """A remote server could not be reached or refused a request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteAuthError(RemoteError):
    """401/403: the API key is missing, wrong or lacks access."""


class RemoteNotFoundError(RemoteError):
    """404: the base URL has no such endpoint, or the server has no such model."""


class RemoteRateLimitError(RemoteError):
    """429: the server is busy or the key's quota is used up."""


class RemoteServerError(RemoteError):
    """5xx, or a reply that is not the OpenAI shape."""


class RemoteTimeoutError(RemoteError):
    """The server did not answer, or stopped sending, within the timeout."""


class RemoteConnectionError(RemoteError):
    """The connection could not be made or broke (refused, unknown host, reset)."""


class RemoteTLSError(RemoteConnectionError):
    """The server's certificate could not be verified, or the TLS handshake failed."""


class RemoteUnsupportedError(RemoteError):
    """The request asks for something a remote backend cannot do."""


class KeyStoreError(EngineError):
    """An API key could not be stored or read."""
