"""Half-open connections cannot starve the engine: request headers have a deadline, open
connections have a cap (the oldest idle ones make room), and repeated errors are rate-limited
in the engine's log."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import urlsplit

from engine_proc import engine_process

from ironship.engine.http.conns import RateLimit

FLOOD = 2000
NOFILE = 256  # the engine's descriptor limit: far below the flood
LOG_BOUND = 64 * 1024
RSS_BOUND_KB = 200 * 1024
HALF_REQUEST = b"GET /2/stacks HTTP/1.1\r\nHost: x\r\n"


def _addr(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 0


def test_flood_of_half_open_connections_leaves_others_served(tmp_path: Path) -> None:
    """With 2,000 connections that never finish their headers against an engine allowed 256
    descriptors, another client's request still completes and the engine's log stays small."""
    with engine_process(tmp_path, "--header-timeout", "600", nofile=NOFILE) as eng:
        addr = _addr(eng.api.url)
        flood: list[socket.socket] = []
        try:
            for _ in range(FLOOD):
                sock = socket.create_connection(addr, timeout=30)
                flood.append(sock)
                sock.sendall(HALF_REQUEST)
            r = eng.api.call("GET", "/codes", timeout=60)
            assert r.status_code == 200 and r.json() == {"codes": []}
            assert eng.open_fds() < NOFILE
            peak = eng.status_kb("VmHWM")
        finally:
            for sock in flood:
                sock.close()
        size = eng.log_file.stat().st_size
        print(f"connection flood: peak RSS {peak} kB, engine log {size} bytes")
        assert size < LOG_BOUND, eng.log_file.read_text(errors="replace")[-2000:]
        assert peak < RSS_BOUND_KB


def test_unfinished_headers_are_closed_at_the_deadline(tmp_path: Path) -> None:
    """A connection that sends half a request is closed by the engine after the header
    deadline, while a connection that completes its request is answered."""
    with engine_process(tmp_path, "--header-timeout", "0.5") as eng:
        with socket.create_connection(_addr(eng.api.url), timeout=60) as sock:
            sock.sendall(HALF_REQUEST)
            assert sock.recv(1024) == b""  # closed by the engine, not by our 60 s fail-safe
        assert eng.api.call("GET", "/codes").status_code == 200


def test_rate_limit_filter_counts_what_it_drops() -> None:
    """The log filter passes a message a few times per window, drops the rest, and says how
    many it dropped on the next one that passes."""
    limit = RateLimit(burst=2, window=3600)

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, None, None)

    passed = [limit.filter(rec("socket.accept() out of system resource")) for _ in range(50)]
    assert passed == [True, True] + [False] * 48
    assert limit.filter(rec("another message"))
    limit.window = 0  # a new window: the next record passes and carries the count
    again = rec("socket.accept() out of system resource")
    assert limit.filter(again) and "(48 similar messages suppressed)" in str(again.msg)
