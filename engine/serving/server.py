"""A local OpenAI-compatible server: uvicorn in a thread of its own, over one scheduler.

Safe by default: it binds to 127.0.0.1; any other address needs a bearer token,
and without one the server refuses to start. Stopping ends the streams in progress
cleanly (each client gets its closing chunk and ``[DONE]``) before the socket closes.
"""

from __future__ import annotations

import ipaddress
import threading
import time

import uvicorn

from engine.core.errors import EngineError
from engine.runtime.model import LoadedModel
from engine.serving.embeddings import EmbeddingService
from engine.serving.routes import ServerState, create_app
from engine.serving.scheduler import Scheduler, ServerLoad


class ServeConfigError(EngineError):
    """The server's settings are unsafe or impossible (e.g. a public address without a token)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """Host headers a loopback server accepts; None (any) when it listens elsewhere, token-guarded."""
    if not is_loopback(host):
        return None
    names = {host, "127.0.0.1", "localhost", "[::1]"}
    return {n for n in names} | {f"{n}:{port}" for n in names}


def check_bind(host: str, api_key: str | None) -> None:
    if not is_loopback(host) and not api_key:
        raise ServeConfigError(
            f"Refusing to serve on {host} without a token: anyone who can reach this machine could use it. "
            "Pass --api-key KEY (clients then send 'Authorization: Bearer KEY'), or serve on 127.0.0.1."
        )


class _Uvicorn(uvicorn.Server):
    """Ends the model's streams before uvicorn waits for connections to close."""

    def __init__(self, config: uvicorn.Config, on_exit) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame) -> None:  # noqa: ANN001 - uvicorn's signature
        threading.Thread(target=self._on_exit, daemon=True).start()
        super().handle_exit(sig, frame)

    def install_signal_handlers(self) -> None:
        # In a worker thread signals cannot be installed; the owner stops us instead.
        if threading.current_thread() is threading.main_thread():
            super().install_signal_handlers()


class LocalServer:
    """Serves ``model`` over HTTP until ``stop`` (or Ctrl+C when run in the foreground).

    The installed sentence embedder, if any, is served beside it at ``/v1/embeddings``.
    """

    def __init__(self, model: LoadedModel, model_name: str, host: str = "127.0.0.1", port: int = 8080,
                 api_key: str | None = None, cors_origins: tuple[str, ...] = (), max_queue: int = 64,
                 lookup: bool = False, embedder_threads: int = 0) -> None:
        check_bind(host, api_key)
        self.host, self.port = host, port
        self.embeddings = EmbeddingService(embedder_threads, max_queue)
        self.state = ServerState(model_name, api_key, allowed_hosts(host, port), self.embeddings)
        self.scheduler = Scheduler(model, max_queue, lookup)
        self.state.scheduler = self.scheduler
        config = uvicorn.Config(create_app(self.state, cors_origins), host=host, port=port, log_level="warning",
                                timeout_graceful_shutdown=10, limit_concurrency=512)
        self._server = _Uvicorn(config, self.scheduler.stop)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def load(self) -> ServerLoad:
        return self.scheduler.load()

    def run(self) -> None:
        """Serve in this thread until Ctrl+C, which ends the streams in progress and returns."""
        try:
            self._server.run()
        except KeyboardInterrupt:  # uvicorn re-raises the signal it handled; the stop was clean
            pass
        finally:
            self.scheduler.stop()

    def start(self, timeout: float = 15.0) -> None:
        """Serve from a thread of its own; returns once the socket listens."""
        self._thread = threading.Thread(target=self._run_in_thread, name="hearth-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServeConfigError(f"The server could not listen on {self.host}:{self.port} "
                                       "(is the port in use?).")
            time.sleep(0.02)

    def _run_in_thread(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports that
            pass

    def stop(self, timeout: float = 10.0) -> None:
        """End the streams in progress, then close the socket."""
        self.scheduler.stop()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
