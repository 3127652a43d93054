"""Start ``hearth-cli serve`` as a real process on a free loopback port, for the serving tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

import http.client
import json


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, proc: subprocess.Popen, port: int, key: str | None) -> None:
        self.proc, self.port, self.key = proc, port, key
        self.base = f"http://127.0.0.1:{port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None, timeout: float = 60) -> tuple[int, bytes]:
        """One plain HTTP request (no client library in between): status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json", **self.headers(), **(headers or {})}
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@contextmanager
def serve(model: Path, *flags: str, key: str | None = None, context: int = 2048,
          home: Path | None = None) -> Iterator[Served]:
    """The server runs with ``HEARTH_HOME`` at ``home``, by default an empty folder: what it
    serves beside the model (the embedder) never depends on the developer's own install."""
    with tempfile.TemporaryDirectory(prefix="hearth-serve-home-") as empty:
        with _serve(model, flags, key, context, home or Path(empty)) as served:
            yield served


@contextmanager
def _serve(model: Path, flags: tuple[str, ...], key: str | None, context: int, home: Path) -> Iterator[Served]:
    port = free_port()
    cmd = [sys.executable, "-m", "engine.cli", "serve", str(model), "--port", str(port), "--context", str(context),
           "--threads", "2", *flags, *(["--api-key", key] if key else [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "HEARTH_HOME": str(home)})
    served = Served(proc, port, key)
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if served.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start in 120 s")
            time.sleep(0.2)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
