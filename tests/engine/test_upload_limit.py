"""The upload limit is enforced while the body arrives: reading stops at the limit, the client
gets a 400 saying so, and nothing partial stays in the data folder."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from engine_helpers import Api

from ironship.engine.server import EngineServer
from ironship.engine.zipcheck import Limits

ZIP_LIMIT = 256 * 1024  # a multipart body may carry up to 4x (a PY3 repr) + 1 MB
FIVE_GB = 5 * 1024**3
CHUNK = 1024 * 1024
# What the client may push before the answer: the body limit plus the kernel's socket buffers
# on both sides (a few MB on loopback). Without the check, all 5 GB would go in.
SENT_BOUND = 64 * 1024 * 1024
BOUNDARY = "xXxBOUNDARYxXx"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[EngineServer]:
    """An engine whose code package limit is 256 KB."""
    with EngineServer(tmp_path / "data", limits=Limits(max_zip_bytes=ZIP_LIMIT)) as eng:
        yield eng


def _head(eng: EngineServer) -> bytes:
    host = urlsplit(eng.url).netloc
    return (
        f"POST /2/projects/{eng.project_id}/codes HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: OAuth {eng.token}\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _body_chunks(total: int) -> Iterator[bytes]:
    """A multipart body whose file part is ``total`` bytes of zeros, made on the fly."""
    yield _chunk(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
            '{"name": "huge", "runtime": "python"}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="c.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
    )
    block = _chunk(b"\0" * CHUNK)
    for _ in range(total // CHUNK):
        yield block


def _push(eng: EngineServer, total: int) -> tuple[int, bytes, bool]:
    """Send the chunked upload until the engine answers or hangs up; (bytes sent, answer,
    whether the engine then closed the connection)."""
    addr = urlsplit(eng.url)
    sock = socket.create_connection((addr.hostname or "", addr.port or 0), timeout=60)
    sent = 0
    answer = b""
    closed = False
    with sock:
        sock.sendall(_head(eng))
        for piece in _body_chunks(total):
            readable, writable, _ = select.select([sock], [sock], [], 60)
            assert readable or writable, "the engine neither read nor answered for 60 s"
            if readable:
                break
            try:
                sock.sendall(piece)
            except OSError:  # the engine hung up after answering
                break
            sent += len(piece)
        try:
            while data := sock.recv(65536):
                answer += data[: 65536 - len(answer)]
            closed = True
        except TimeoutError:
            pass  # still open after 60 s: the engine went on reading the body
        except OSError:
            closed = True  # reset: the engine closed with our data unread
    return sent, answer, closed


def test_five_gb_chunked_upload_stops_at_the_limit(small: EngineServer) -> None:
    """A 5 GB chunked upload is refused after at most the limit plus socket buffers went in,
    with a 400 naming the limit; the engine hangs up rather than read the rest, and tmp/
    holds nothing afterwards."""
    sent, answer, closed = _push(small, FIVE_GB)
    print(f"bytes sent before the engine refused a 5 GB upload: {sent}")
    assert sent < SENT_BOUND, sent
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"larger than the code package limit of 262144 bytes" in answer
    assert closed and b"connection: close" in answer.lower()
    assert list((small.data_dir / "tmp").iterdir()) == []
    api = Api(small.url, small.project_id, small.token)
    assert api.ok("GET", "/codes")["codes"] == []


def test_upload_under_the_limit_still_works(small: EngineServer) -> None:
    """An upload just under the limit is still accepted by the bounded reader."""
    api = Api(small.url, small.project_id, small.token)
    code_id = api.upload("ok", {"worker.py": "x = 1\n" + "#" * (ZIP_LIMIT // 2)})
    assert api.ok("GET", f"/codes/{code_id}")["name"] == "ok"
