"""An HTTP proxy in front of the real engine that holds one chosen request (tests only).

Every request passes through unchanged; the first one that ``hold`` selects waits, after
``arrived`` is set, until the test sets ``release``. Tests use it to stop one deploy at an
exact point (say, its re-read before an upload) while another deploy runs, with events
rather than sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

WAIT = 60.0  # seconds: a bound on waiting for the test, never a timing assertion


@dataclass
class Pause:
    """What the test sees and controls: the proxy's URL and the held request's events."""

    url: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: list[str] = field(default_factory=list)  # "METHOD path" of the held request


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: str
    hold: Callable[[str, str], bool]
    pause: Pause


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        pause = self.server.pause
        if not pause.held and self.server.hold(self.command, self.path):
            pause.held.append(f"{self.command} {self.path}")
            pause.arrived.set()
            if not pause.release.wait(WAIT):
                self.send_error(504, "the test never released the held request")
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
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

    do_GET = do_POST = do_PUT = do_DELETE = _relay


@contextmanager
def pause_proxy(upstream: str, hold: Callable[[str, str], bool]) -> Iterator[Pause]:
    """Yield a Pause whose ``url`` proxies to ``upstream``, holding the first request for
    which ``hold(method, path)`` is true."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.upstream = upstream.rstrip("/")
    server.hold = hold
    server.pause = Pause(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.pause
    finally:
        server.pause.release.set()
        server.shutdown()
        server.server_close()
