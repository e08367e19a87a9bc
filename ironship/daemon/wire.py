"""What the daemon and a command say to each other over the daemon's Unix socket.

Each message is a 4-byte big-endian length and that many bytes of JSON; the first message
of a command also carries its standard input, output and error as file descriptors
(``SCM_RIGHTS``, https://man7.org/linux/man-pages/man7/unix.7.html). Light on purpose: a
command that finds a daemon imports this and the client, nothing else of ironship.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
from pathlib import Path
from typing import Any

SOCKET = "socket"  # paths.daemon_socket
RECORD = "daemon.json"
LOG = "log"
_HEADER = struct.Struct(">I")
MAX_MESSAGE = 64 << 20


class WireError(Exception):
    """The other side closed the connection or sent something that is not a message."""


def send(sock: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    body = json.dumps(message).encode()
    data = _HEADER.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data], list(fds))
        data = data[sent:]
    sock.sendall(data)


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One message and the descriptors that came with it."""
    fds: list[int] = []
    head = b""
    if max_fds:
        head, fds, _, _ = socket.recv_fds(sock, _HEADER.size, max_fds)
    head += _exactly(sock, _HEADER.size - len(head))
    (size,) = _HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes")
    try:
        message = json.loads(_exactly(sock, size))
    except ValueError as exc:
        raise WireError("not JSON") from exc
    if not isinstance(message, dict):
        raise WireError("not a JSON object")
    return message, fds


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise WireError("the connection closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def connect(path: Path, timeout: float | None = None) -> socket.socket:
    """A connection to the socket at ``path``; a path longer than a socket address may be
    (about 100 bytes) is reached from its folder. Raises OSError when nobody listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) < 100:
            sock.connect(str(path))
        else:
            here = os.open(".", os.O_RDONLY)
            try:
                os.chdir(path.parent)
                sock.connect(path.name)
            finally:
                os.fchdir(here)
                os.close(here)
    except OSError:
        sock.close()
        raise
    return sock


def signal_command(pid: int, signum: signal.Signals) -> None:
    """``signum`` to the command the daemon runs as ``pid``: to its process group, its own
    (the daemon's child makes it so first thing), or to the child alone before it did."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            os.kill(pid, signum)
