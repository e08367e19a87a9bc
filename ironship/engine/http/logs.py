"""Task logs read from disk in chunks, whole or from an offset (``?offset=N`` or ``Range``).

A log can be gigabytes, so it is never read whole: the answer streams 64 KB at a time from a
thread, up to the size the file had when the request arrived (so Content-Length is exact
while the task keeps writing). A follower asks only for what is new:

- no offset, no Range: 200 with the whole log (what every official client expects; [go]
  treats only 200 and 201 as success, docs/ironworker-api.md §1 (Transport)).
- ``?offset=N``: 200 with the bytes from N to the current end (empty when nothing is new).
- ``Range: bytes=N-`` or ``bytes=N-M``: 206 with ``Content-Range``; 416 when N is past the end.

Every answer says ``X-Ironship-Log-Size`` (the log's size when the request arrived) and
``X-Ironship-Task-Status`` (the status read *before* the size, so a finished status means the
body reaches the log's final end).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.responses import Response, StreamingResponse

from ironship.engine.http.wire import HttpFailure

LOG_CHUNK = 64 * 1024
MEDIA = "text/plain; charset=utf-8"
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d{1,18})\s*-\s*(\d{0,18})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Slice:
    """Which bytes of the log to send, and how to label them."""

    start: int
    end: int  # exclusive
    size: int
    partial: bool  # answered as 206 (a Range header was sent)


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """``bytes=N-`` or ``bytes=N-M`` as (N, M or None); anything else is ignored (RFC 9110
    §14.2: a server may ignore a Range it does not understand)."""
    if not header:
        return None
    match = _RANGE.match(header)
    if not match:
        return None
    first, last = int(match.group(1)), match.group(2)
    end = int(last) if last else None
    if end is not None and end < first:
        return None
    return first, end


def choose_slice(size: int, offset: int | None, rng: tuple[int, int | None] | None) -> Slice:
    """The bytes to send for a log of ``size`` bytes; a Range wins over ``?offset``."""
    if rng is not None:
        first, last = rng
        if first >= size:
            raise HttpFailure(416, f"range starts at {first}, past the end of the log ({size})")
        end = size if last is None else min(last + 1, size)
        return Slice(first, end, size, partial=True)
    start = min(offset or 0, size)
    return Slice(start, size, size, partial=False)


async def _chunks(path: Path, start: int, end: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as fh:
        await fh.seek(start)
        left = end - start
        while left > 0:
            chunk = await fh.read(min(LOG_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def log_response(path: Path, status: str, offset: int | None, range_header: str | None) -> Response:
    """Stream the part of the log at ``path`` the request asked for."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise HttpFailure(404, f"log not available: the task is {status}") from None
    piece = choose_slice(size, offset, parse_range(range_header))
    headers = {
        "Content-Length": str(piece.end - piece.start),
        "X-Ironship-Log-Size": str(size),
        "X-Ironship-Task-Status": status,
    }
    if piece.partial:
        headers["Content-Range"] = f"bytes {piece.start}-{piece.end - 1}/{size}"
        headers["Accept-Ranges"] = "bytes"
    return StreamingResponse(
        _chunks(path, piece.start, piece.end),
        status_code=206 if piece.partial else 200,
        media_type=MEDIA,
        headers=headers,
    )
