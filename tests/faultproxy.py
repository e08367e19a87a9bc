"""A fault-injecting HTTP proxy in front of the real engine (tests only).

Requests pass through unchanged, except where ``Faults`` says otherwise:

- ``fail_uploads``: uploads whose ``data`` names one of these workers get ``fail_status`` and
  a ``msg``, as a real server might refuse them;
- ``fail_read_back``: once an upload went through, ``GET …/codes`` (the list apply reads back)
  answers 500;
- ``drop_after_upload``: uploads of these workers reach the server, then the connection closes
  without an answer (the response is lost after the server handled the request);
- ``reset_uploads``: uploads of these workers are cut mid-body (the server never sees them);
- ``die_after_uploads``: after that many uploads went through, every request is cut, as if
  the engine died;
- ``burst``: the first ``burst`` requests each get ``burst_status`` (503 or 429) with
  ``Retry-After: 1``, before any reaches the server;
- ``stall_uploads``: uploads of these workers wait ``stall_seconds`` before being relayed;
- ``ignore_range``: the ``Range`` header is dropped, as by a server that does not support it;
- ``delay``: every request waits that many seconds before anything else happens to it, as
  behind a slow network or a distant server (bench/upload_bench.py);
- ``throttle_uploads``: the first that many uploads each get 429 with ``Retry-After:
  retry_after`` (seconds), as the hosted service answers when requests come too fast.
- ``hold``: the first request it picks waits for the test's ``release`` (``arrived`` says it
  came), to stop one deploy at an exact point while another runs.

``seen`` records every relayed request as (method, path, Range header, status, body bytes);
``uploads`` records every upload as (``time.monotonic()``, worker name, status), the 429s
included; ``in_flight_peak`` is the most requests the proxy held at once.

Every wait is bounded, and the proxy only listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HOLD_WAIT = 60.0  # seconds a held request waits for the test: a bound, never a timing check


@dataclass
class Faults:
    """What the proxy does wrong; counters are updated as requests pass (under ``lock``)."""

    fail_uploads: set[str] = field(default_factory=set)
    fail_status: int = 400
    fail_read_back: bool = False
    drop_after_upload: set[str] = field(default_factory=set)
    reset_uploads: set[str] = field(default_factory=set)
    die_after_uploads: int | None = None
    burst: int = 0
    burst_status: int = 503
    stall_uploads: set[str] = field(default_factory=set)
    stall_seconds: float = 10.0
    ignore_range: bool = False
    delay: float = 0.0
    throttle_uploads: int = 0
    retry_after: int = 1
    # The first request for which hold(method, path) is true waits, after ``arrived`` is set,
    # until the test sets ``release`` (a 504 after HOLD_WAIT): one deploy stopped at an exact
    # point while another runs, with events rather than sleeps.
    hold: Callable[[str, str], bool] | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: list[str] = field(default_factory=list)  # "METHOD path" of the held request
    uploads_relayed: int = 0
    uploads: list[tuple[float, str, int]] = field(default_factory=list)
    in_flight: int = 0
    in_flight_peak: int = 0
    seen: list[tuple[str, str, str | None, int, int]] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)  # what was done, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str) -> None:
        with self.lock:
            self.injected.append(what)


def _upload_name(body: bytes) -> str:
    """The worker an upload body is for (its ``data`` part's ``name``), or "?"."""
    marker = b'"name": "'
    start = body.find(marker)
    if start < 0:
        return "?"
    start += len(marker)
    return body[start : body.find(b'"', start)].decode(errors="replace")


def _names(body: bytes, names: set[str]) -> str | None:
    """The worker among ``names`` this upload body is for, if any."""
    for name in sorted(names):
        if json.dumps({"name": name})[1:-1].encode() in body:  # '"name": "x"'
            return name
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _relay(self) -> None:
        faults = self.server.faults
        with faults.lock:
            faults.in_flight += 1
            faults.in_flight_peak = max(faults.in_flight_peak, faults.in_flight)
        try:
            if faults.delay > 0:
                time.sleep(faults.delay)
            self._relay_now(faults)
        finally:
            with faults.lock:
                faults.in_flight -= 1

    def _relay_now(self, faults: Faults) -> None:
        upload = self.command == "POST" and self.path.split("?")[0].endswith("/codes")
        if self._dead(faults) or self._burst(faults):
            return
        if upload and self._throttle(faults):
            return
        length = int(self.headers.get("Content-Length") or 0)
        if upload and faults.reset_uploads and length > 1:
            head = self.rfile.read(length - 1)  # all but the last byte: the body is cut short
            if (name := _names(head, faults.reset_uploads)) is not None:
                faults.note(f"reset upload {name}")
                self._reset()
                return
            body = head + self.rfile.read(length - len(head))
        else:
            body = self.rfile.read(length) if length else b""
        if upload and self._refuse(faults, body):
            return
        if not upload and self._read_back_fails(faults):
            return
        if self._held_too_long(faults, body if upload else None):
            return
        resp = self._forward(body)
        with faults.lock:
            rng = None if faults.ignore_range else self.headers.get("Range")
            faults.seen.append((self.command, self.path, rng, resp.status_code, len(resp.content)))
        if upload:
            with faults.lock:
                faults.uploads_relayed += 1
                faults.uploads.append((time.monotonic(), _upload_name(body), resp.status_code))
            if (name := _names(body, faults.drop_after_upload)) is not None:
                faults.note(f"drop answer to upload {name} ({resp.status_code})")
                self._reset()
                return
        self._copy(resp)

    def _held_too_long(self, faults: Faults, upload: bytes | None) -> bool:
        """Stall the uploads ``faults`` names, and hold the request ``faults.hold`` picks (the
        first one only); True when the test never released it and a 504 went back instead."""
        name = _names(upload, faults.stall_uploads) if upload is not None else None
        if name is not None:
            faults.note(f"stall upload {name}")
            time.sleep(faults.stall_seconds)
        with faults.lock:
            if faults.hold is None or faults.held or not faults.hold(self.command, self.path):
                return False
            faults.held.append(f"{self.command} {self.path}")
        faults.arrived.set()
        if faults.release.wait(HOLD_WAIT):
            return False
        self._answer(504, {"msg": "the test never released the held request"})
        return True

    def _dead(self, faults: Faults) -> bool:
        limit = faults.die_after_uploads
        if limit is None or faults.uploads_relayed < limit:
            return False
        faults.note(f"dead: {self.command} {self.path}")
        self._reset()
        return True

    def _burst(self, faults: Faults) -> bool:
        with faults.lock:
            if faults.burst <= 0:
                return False
            faults.burst -= 1
            faults.injected.append(f"{faults.burst_status} {self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._answer(faults.burst_status, {"msg": "try again later"}, {"Retry-After": "1"})
        return True

    def _throttle(self, faults: Faults) -> bool:
        with faults.lock:
            if faults.throttle_uploads <= 0:
                return False
            faults.throttle_uploads -= 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        name = _upload_name(body)
        with faults.lock:
            faults.uploads.append((time.monotonic(), name, 429))
            faults.injected.append(f"429 upload {name}")
        retry = {"Retry-After": str(faults.retry_after)}
        self._answer(429, {"msg": "Too many requests, try again later"}, retry)
        return True

    def _refuse(self, faults: Faults, body: bytes) -> bool:
        name = _names(body, faults.fail_uploads)
        if name is None:
            return False
        self._answer(faults.fail_status, {"msg": f"injected failure for {name}"})
        return True

    def _read_back_fails(self, faults: Faults) -> bool:
        listing = self.command == "GET" and self.path.split("?")[0].endswith("/codes")
        if not (faults.fail_read_back and listing and faults.uploads_relayed):
            return False
        faults.note(f"500 {self.path}")
        self._answer(500, {"msg": "injected read-back failure"})
        return True

    def _forward(self, body: bytes) -> requests.Response:
        dropped = ("host", "range") if self.server.faults.ignore_range else ("host",)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        return self.server.session.request(
            self.command,
            self.server.upstream + self.path,
            headers=headers,
            data=body,
            timeout=30,
            allow_redirects=False,
        )

    def _copy(self, resp: requests.Response) -> None:
        self.send_response(resp.status_code)
        for key, value in resp.headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    def _reset(self) -> None:
        """Close the connection with a TCP reset, sending nothing back."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _answer(self, status: int, doc: object, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _relay


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections that 16 parallel uploads open at
    # once, and the kernel retries a dropped SYN only after a second.
    request_queue_size = 128
    upstream: str
    faults: Faults
    session: requests.Session  # shared: connections to the upstream are reused


@contextmanager
def faulty_proxy(upstream: str, faults: Faults) -> Iterator[str]:
    """Yield the proxy's URL (on 127.0.0.1); requests through it meet ``faults``."""
    server = _ProxyServer(("127.0.0.1", 0), _Handler)
    server.upstream = upstream.rstrip("/")
    server.faults = faults
    server.session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
    server.session.mount("http://", adapter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        faults.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
        server.session.close()


@contextmanager
def fault_proxy(upstream: str, fail_uploads: set[str], status: int = 400) -> Iterator[str]:
    """Yield the proxy's URL; uploads of the named workers fail with ``status``."""
    with faulty_proxy(upstream, Faults(fail_uploads=set(fail_uploads), fail_status=status)) as url:
        yield url
