"""A model hub on 127.0.0.1 in the Hugging Face layout, for download tests that cannot reach the real one.

It answers what ``huggingface_hub`` and Hearth's downloader ask of a hub:
- ``GET /api/models/{repo}[/revision/{rev}]``: the commit and the files, each with its
  size and, like the hub, the sha256 of a large (LFS) file or the git blob id of a small one;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: the bytes, with ``Range`` support.

``cut_after[(repo, file)] = n`` makes the next GET of that file send n bytes and drop the
connection, as a network failure halfway would. ``reported[(repo, file)]`` is a sha256
to report instead of the real one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_FROM = 1024  # files this big or bigger are "LFS" files, reported with their sha256


class LocalHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.reported: dict[tuple[str, str], str] = {}
        self.cut_after: dict[tuple[str, str], int] = {}
        self.ranges: list[tuple[str, str | None]] = []  # (path, Range header) of each file GET
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo: str, files: dict[str, bytes]) -> None:
        self.repos[repo] = files

    def __enter__(self) -> LocalHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sibling(self, repo: str, name: str) -> dict:
        data = self.repos[repo][name]
        entry = {"rfilename": name, "size": len(data),
                 "blobId": hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()}
        if len(data) >= LFS_FROM:
            sha = self.reported.get((repo, name)) or hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
        return entry


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that stops reading (a cancelled download) is expected here, not an error


def _handler(hub: LocalHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = unquote(self.path.split("?")[0])
            if path.startswith("/api/models/"):
                return self._info(path[len("/api/models/"):].split("/revision/")[0])
            repo, sep, rest = path.lstrip("/").partition("/resolve/")
            name = rest.partition("/")[2]
            data = hub.repos.get(repo, {}).get(name) if sep else None
            if data is None:
                return self._send(404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound"})
            if body:
                hub.ranges.append((path, self.headers.get("Range")))
            start = int(self.headers["Range"][6:].split("-")[0]) if self.headers.get("Range", "").startswith("bytes=") else 0
            payload = data[start:]
            headers = {"X-Repo-Commit": COMMIT, "Accept-Ranges": "bytes", "Content-Length": str(len(payload))}
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            cut = hub.cut_after.pop((repo, name), None) if body else None
            self.send_response(206 if start else 200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(payload if cut is None else payload[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)

        def _info(self, repo: str) -> None:
            if repo not in hub.repos:
                return self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepositoryNotFound"})
            siblings = [hub.sibling(repo, name) for name in hub.repos[repo]]
            info = {"id": repo, "modelId": repo, "sha": COMMIT, "siblings": siblings, "private": False}
            self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(payload))}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

    return Handler
