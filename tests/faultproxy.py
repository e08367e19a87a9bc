"""A fault-injecting HTTP proxy in front of the real engine (tests only).

Requests pass through unchanged, except uploads whose ``data`` names a worker listed in
``fail_uploads``: those get the status and ``msg`` the test chose, as a real server might.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        for name in self.server.fail_uploads:
            marker = json.dumps({"name": name})[1:-1].encode()  # '"name": "x"'
            if self.command == "POST" and self.path.endswith("/codes") and marker in body:
                self._answer(self.server.fail_status, {"msg": f"injected failure for {name}"})
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        resp = requests.request(
            self.command,
            self.server.upstream + self.path,
            headers=headers,
            data=body,
            timeout=30,
            allow_redirects=False,
        )
        self.send_response(resp.status_code)
        for key, value in resp.headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    def _answer(self, status: int, doc: object) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _relay


class _ProxyServer(ThreadingHTTPServer):
    upstream: str
    fail_uploads: set[str]
    fail_status: int


@contextmanager
def fault_proxy(upstream: str, fail_uploads: set[str], status: int = 400) -> Iterator[str]:
    """Yield the proxy's URL; uploads of the named workers fail with ``status``."""
    server = _ProxyServer(("127.0.0.1", 0), _Handler)
    server.upstream = upstream.rstrip("/")
    server.fail_uploads = fail_uploads
    server.fail_status = status
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
