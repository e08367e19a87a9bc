"""A small misbehaving HTTP server for client tests: scripted faults, every request recorded.

Runs ``http.server`` in a thread on 127.0.0.1:0. Each request is answered by the next queued
action (``enqueue``), or by ``handler(request)`` once the queue is empty. Actions: ``Reply``
(any status, headers, body), ``Drop`` (close without answering), ``Truncate`` (promise a
length, send less, close) and ``Stall`` (answer after a delay, or never before shutdown).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it (body de-chunked if it was chunked)."""

    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when the body was read

    def json(self) -> Any:
        return json.loads(self.body)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)  # bytes/str sent as is, anything else as JSON
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a word."""


@dataclass(frozen=True)
class Truncate:
    """Promise ``length`` bytes, send ``body`` (shorter), close."""

    body: bytes
    length: int
    status: int = 200


@dataclass(frozen=True)
class Stall:
    """Wait ``seconds`` (cut short when the server stops), then send ``then``."""

    seconds: float
    then: Reply = field(default_factory=Reply)


Action = Reply | Drop | Truncate | Stall
Handler = Callable[[Recorded], Action]


class FaultServer:
    """``with FaultServer() as srv: srv.enqueue(Reply(503), Reply(200, {...}))``; see ``url``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda _req: Reply(404, {"msg": "Not found"}))
        self.requests: list[Recorded] = []
        self._queue: deque[Action] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def enqueue(self, *actions: Action) -> None:
        with self._lock:
            self._queue.extend(actions)

    def _next(self, request: Recorded) -> Action:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.popleft()
        return self.handler(request)

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on purpose is the point here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    """Records each request and answers with the server's next action."""

    protocol_version = "HTTP/1.1"
    fault_server: FaultServer  # set on the subclass _make_handler creates

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._body(),
            at=time.monotonic(),
        )
        action = self.fault_server._next(request)
        if isinstance(action, Stall):
            self.fault_server._stopping.wait(action.seconds)
            action = action.then
        match action:
            case Drop():
                self._hang_up()
            case Truncate():
                self._truncate(action)
            case Reply():
                self._reply(action)

    def _hang_up(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _truncate(self, action: Truncate) -> None:
        self.send_response(action.status)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(action.length))
        self.end_headers()
        self.wfile.write(action.body)
        self.wfile.flush()
        self._hang_up()

    def _reply(self, action: Reply) -> None:
        data, ctype = action.encoded()
        self.send_response(action.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in action.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    return type("_BoundHandler", (_Handler,), {"fault_server": server})


def codes_handler(codes: Iterable[dict[str, Any]]) -> Handler:
    """A handler serving ``GET .../codes`` pages from ``codes`` as the API does.

    Pages as docs/ironworker-api.md §1 (Transport) describes: ``page`` from 0, ``per_page``
    defaulting to 30.
    """
    items = list(codes)

    def handle(request: Recorded) -> Action:
        if request.method == "GET" and request.path.endswith("/codes"):
            page = int(request.param("page") or 0)
            per_page = int(request.param("per_page") or 30)
            return Reply(200, {"codes": items[page * per_page : (page + 1) * per_page]})
        return Reply(404, {"msg": "Not found"})

    return handle
