"""A small HTTP proxy on 127.0.0.1 that passes requests to a real server and injects faults.

``mode`` picks what the next requests get:
- ``pass``: the upstream's answer, streamed chunk by chunk.
- ``status:N``: HTTP N with an OpenAI-shaped error body; upstream never sees the request.
- ``cut``: the first ``after`` SSE events, then the socket closes mid-body (chunked, unfinished).
- ``cut_clean``: the first ``after`` events, then a properly ended body without ``[DONE]``.
- ``stall``: the first ``after`` events, then silence until ``release`` is set (or 30 s).
- ``error_event``: the first ``after`` events, then an error object in the stream.
- ``tls_fail`` (a proxy made with ``tls``): each new connection gets plain text where the
  TLS handshake should be, so the client's handshake fails before any request is sent.
``seen_auth`` records the Authorization headers that reached the proxy; ``refused_handshakes``
counts the connections ``tls_fail`` turned away.

With ``tls`` (a server-side ``ssl.SSLContext``, e.g. from ``tls_context``) the proxy speaks
HTTPS and closes each connection after its response, so every request makes a new handshake.
"""

from __future__ import annotations

import http.client
import json
import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FaultProxy:
    def __init__(self, upstream_port: int, tls: ssl.SSLContext | None = None) -> None:
        self.upstream_port = upstream_port
        self.mode, self.after = "pass", 3
        self.release = threading.Event()
        self.seen_auth: list[str] = []
        self.refused_handshakes = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def end_headers(self) -> None:
                if tls is not None:  # one request per connection: the next one shakes hands anew
                    self.send_header("Connection", "close")
                    self.close_connection = True
                super().end_headers()

            def do_GET(self) -> None:
                proxy._handle(self, None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy._handle(self, body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
                if tls is None:
                    super().finish_request(request, client_address)
                    return
                if proxy.mode == "tls_fail":
                    proxy.refused_handshakes += 1
                    request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    return
                try:
                    wrapped = tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                try:
                    super().finish_request(wrapped, client_address)
                except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                    pass  # the client went away; nothing to report
                finally:
                    wrapped.close()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/v1"
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


def tls_context(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 signed by a fresh test CA; returns it and the CA's PEM file
    (what a provider's ``ca_file`` names)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hearth test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file
