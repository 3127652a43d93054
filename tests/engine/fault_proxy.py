"""A small HTTP proxy on 127.0.0.1 that passes requests to a real server and injects faults.

``mode`` picks what the next requests get:
- ``pass``: the upstream's answer, streamed chunk by chunk.
- ``status:N``: HTTP N with an OpenAI-shaped error body; upstream never sees the request.
- ``cut``: the first ``after`` SSE events, then the socket closes mid-body (chunked, unfinished).
- ``cut_clean``: the first ``after`` events, then a properly ended body without ``[DONE]``.
- ``stall``: the first ``after`` events, then silence until ``release`` is set (or 30 s).
- ``error_event``: the first ``after`` events, then an error object in the stream.
``seen_auth`` records the Authorization headers that reached the proxy.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode, self.after = "pass", 3
        self.release = threading.Event()
        self.seen_auth: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                proxy._handle(self, None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy._handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def set(self, mode: str, after: int = 3) -> None:
        self.mode, self.after = mode, after
        self.release.clear()

    def _handle(self, h: BaseHTTPRequestHandler, body: bytes | None) -> None:
        self.seen_auth.append(h.headers.get("Authorization", ""))
        mode = self.mode
        if mode.startswith("status:"):
            status = int(mode.split(":")[1])
            data = json.dumps({"error": {"message": f"injected HTTP {status}", "type": "test"}}).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(h.command, h.path, body=body, headers=headers)
        up = conn.getresponse()
        h.send_response(up.status)
        for k, v in up.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            self._relay(h, up, mode if up.status == 200 else "pass")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            conn.close()

    def _relay(self, h: BaseHTTPRequestHandler, up: http.client.HTTPResponse, mode: str) -> None:
        def send(data: bytes) -> None:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()

        events, event = 0, b""
        while line := up.readline():
            event += line
            if line not in (b"\n", b"\r\n"):
                continue
            if mode != "pass" and events >= self.after:
                break
            send(event)
            events, event = events + 1, b""
        else:
            if event:
                send(event)
            h.wfile.write(b"0\r\n\r\n")
            return
        if mode == "cut":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)  # no closing chunk: the body ends mid-way
            return
        if mode == "stall":
            self.release.wait(30)
        elif mode == "error_event":
            send(b'data: {"error": {"message": "injected: the server ran out of memory"}}\n\n')
        h.wfile.write(b"0\r\n\r\n")
