"""Connection guards: a deadline for request headers, a cap on open connections, and
rate-limited logging, so half-open connections cannot exhaust the engine.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but sets no deadline for
the headers of a request: a client that connects and sends half a request line holds a file
descriptor for ever, and enough of them exhaust the process's descriptors (accept then fails
in a loop and nobody is served). ``guarded_protocol`` is uvicorn's h11 protocol with:

- a header deadline: a connection still waiting for a request's headers ``header_timeout``
  seconds after it opened, or after the first bytes of its next request, is closed;
- a connection cap: past ``max_connections``, the oldest connections that are waiting for
  headers (half-open or idle) are closed to make room; a connection in the middle of a
  request is never closed for this.

``RateLimit`` is a logging filter that lets each message through a few times a minute and
then counts it, so a fault that repeats (e.g. accept failing) cannot flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000
# Closed at once when the cap is reached, so a flood costs one sort per batch, not per accept.
EVICT_FRACTION = 10


class _Guarded(H11Protocol):
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened = 0.0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.waiting_for_headers():
            self._arm()
        else:
            self._disarm()

    def waiting_for_headers(self) -> bool:
        """No request in progress: nothing or only part of the next request's head came."""
        return self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        )

    def _arm(self) -> None:
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        live = [
            c for c in self.connections if isinstance(c, _Guarded) and not c.transport.is_closing()
        ]
        excess = len(live) - self.max_connections
        if excess <= 0:
            return
        idle = sorted((c for c in live if c.waiting_for_headers()), key=lambda c: c._opened)
        for conn in idle[: excess + max(1, self.max_connections // EVICT_FRACTION)]:
            conn._disarm()
            conn.transport.close()


def guarded_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with these limits (passed as ``uvicorn.Config(http=...)``)."""
    return type(
        "GuardedH11Protocol",
        (_Guarded,),
        {"header_timeout": header_timeout, "max_connections": max(1, max_connections)},
    )


class RateLimit(logging.Filter):
    """At most ``burst`` records per message per ``window`` seconds; the rest are counted and
    the count is added to the next record of that message that gets through."""

    def __init__(self, burst: int = 5, window: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        now = time.monotonic()
        with self._lock:
            start, passed, dropped = self._seen.get(key, (now, 0, 0))
            if now - start >= self.window:
                start, passed = now, 0
            if passed >= self.burst:
                self._seen[key] = (start, passed, dropped + 1)
                return False
            self._seen[key] = (start, passed + 1, 0)
        if dropped:
            record.msg = f"{record.msg} ({dropped} similar messages suppressed)"
        return True


def limit_log_floods(
    names: tuple[str, ...] = ("asyncio", "uvicorn.error", "ironship.engine"),
) -> None:
    """Install one ``RateLimit`` on each of these loggers (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimit) for f in logger.filters):
            logger.addFilter(RateLimit())
