"""A command run through the daemon, when one serves the manifest's folder.

``main`` (cli/app.py) asks ``forward`` first for the commands in ``FORWARDED``. If
``.ironship/daemon/socket`` beside the manifest answers, the command is sent there with this
process's arguments, folder, environment, umask and standard streams; the daemon runs it in
a fresh copy of itself (already loaded, with what it knows of the tree) writing straight to
this terminal, and this process waits for its exit code, passing on Ctrl-C and other
signals; Ctrl-Z stops the command with this process, and ``fg``/``bg`` continue both. No
socket, or one nobody answers (a daemon that was killed): the command runs here, as without
a daemon. ``IRONSHIP_NO_DAEMON=1`` always runs it here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ironship.paths import daemon_socket

if TYPE_CHECKING:
    import socket

# Commands that read the manifest and gain from a loaded process that knows the tree.
# Long-running ones (dev, server, logs --follow) and the daemon's own are never sent.
FORWARDED = frozenset({"validate", "plan", "apply", "files", "package", "show", "diff", "test"})
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def manifest_path(args: list[str]) -> str:
    """The manifest ``args`` name (``-f``/``--file``, else IRONSHIP_FILE, else ironship.yml)."""
    found = os.environ.get("IRONSHIP_FILE") or "ironship.yml"
    for i, arg in enumerate(args):
        if arg in ("-f", "--file") and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--file="):
            found = arg[len("--file=") :]
        elif arg.startswith("-f") and not arg.startswith("--") and len(arg) > 2:
            found = arg[2:]
    return found


def code_folder() -> str:
    """This ironship package's real folder."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def socket_for(args: list[str]) -> Path:
    return daemon_socket(Path(os.path.abspath(manifest_path(args))).parent)


def forward(args: list[str]) -> int | None:
    """The exit code of ``args`` run by the daemon, or None: run it in this process."""
    if not args or args[0] not in FORWARDED or os.environ.get("IRONSHIP_NO_DAEMON"):
        return None
    path = socket_for(args)
    if not os.path.exists(path):
        return None
    from ironship.daemon import wire  # only with a daemon: sockets cost a plain command time

    try:
        sock = wire.connect(path, timeout=5)
    except OSError:
        return None  # a socket left by a daemon that is gone
    with sock:
        umask = os.umask(0o22)
        os.umask(umask)
        request = {
            "op": "run",
            "code": code_folder(),  # a daemon of another ironship install declines
            "args": args,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
        }
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            wire.send(sock, request, (0, 1, 2))
            started, _ = wire.receive(sock)
        except (OSError, wire.WireError):
            return None  # it never started the command: run it here
        if started.get("op") != "started":
            return None
        sock.settimeout(None)
        return _wait(sock, int(started["pid"]))


def _wait(sock: socket.socket, pid: int) -> int:
    """Pass signals to the command's process until its exit code comes."""
    from ironship.daemon import wire

    def pass_on(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    def suspend(signum: int, frame: FrameType | None) -> None:
        # Ctrl-Z: the command stops with this process, and goes on when it does (fg, bg).
        wire.signal_command(pid, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT
        signal.signal(signal.SIGTSTP, suspend)
        wire.signal_command(pid, signal.SIGCONT)

    for signum in _SIGNALS:
        signal.signal(signum, pass_on)
    signal.signal(signal.SIGTSTP, suspend)
    while True:
        try:
            message, _ = wire.receive(sock)
        except InterruptedError:
            continue
        except (OSError, wire.WireError):
            sys.stderr.write("error: the ironship daemon ended before the command did\n")
            return 1
        if message.get("op") == "exit":
            return int(message["code"])
