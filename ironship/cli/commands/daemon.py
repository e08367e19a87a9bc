"""``ironship daemon start|stop|status``: the process that keeps ironship loaded between
commands and watches the workers' folders (ironship/daemon/, README "The daemon")."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ironship import paths
from ironship.cli.options import FileOpt, JsonOpt
from ironship.cli.ui import out, print_json
from ironship.daemon import wire
from ironship.daemon.client import FORWARDED
from ironship.errors import IronshipError

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# What the daemon process itself needs; a command's own environment reaches only its child.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


class Action(StrEnum):
    start = "start"
    stop = "stop"
    status = "status"


def daemon(
    action: Annotated[Action, typer.Argument(help="start, stop or status.")],
    file: FileOpt = Path(paths.DEFAULT_MANIFEST),
    json_out: JsonOpt = False,
) -> None:
    """Keep ironship loaded in the manifest's folder and watch its workers' files.

    With a daemon running, validate, plan, apply, files, package, show, diff and test in
    that folder run in it: no start-up, and a worker whose files did not change is not
    walked again. It runs until 'ironship daemon stop'.
    """
    folder = file.resolve().parent
    if action is Action.status:
        _status(folder, json_out)
    elif action is Action.stop:
        _stop(folder, json_out)
    else:
        _start(file, folder, json_out)


def ask(folder: Path, op: str) -> dict[str, Any] | None:
    """The daemon's answer to ``op``, or None when no daemon serves ``folder``."""
    path = paths.daemon_socket(folder)
    if not path.exists():
        return None
    try:
        with wire.connect(path, timeout=5) as sock:
            wire.send(sock, {"op": op})
            answer, _ = wire.receive(sock)
    except (OSError, wire.WireError):
        return None
    return answer


def _start(file: Path, folder: Path, json_out: bool) -> None:
    if not sys.platform.startswith("linux"):
        raise IronshipError("the daemon needs Linux (it watches folders with inotify)")
    if not file.is_file():
        raise IronshipError(
            f"{file}: no such manifest", hint="run it where ironship.yml is, or give -f FILE"
        )
    running = ask(folder, "status")
    if running is None:
        running = _spawn(folder)
        said = f"daemon started for {folder} (pid {running['pid']})"
    else:
        said = f"a daemon already serves {folder} (pid {running['pid']})"
    if json_out:
        print_json({"running": True, **_public(running)})
        return
    out.print(said, markup=False)
    commands = ", ".join(c for c in _ORDER if c in FORWARDED)
    out.print(f"{commands} in that folder now run in it; stop it with 'ironship daemon stop'")


_ORDER = ("validate", "plan", "apply", "files", "package", "show", "diff", "test")


def _spawn(folder: Path) -> dict[str, Any]:
    home = paths.daemon_dir(folder)
    paths.ensure_state_dir(folder)
    home.mkdir(mode=0o700, exist_ok=True)
    env = {k: os.environ[k] for k in _KEPT if k in os.environ}
    log_path = home / wire.LOG
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ironship.daemon.server", str(folder)],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        answer = ask(folder, "status")
        if answer is not None:
            return answer
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
    raise IronshipError(
        f"the daemon for {folder} did not start" + (f": {tail[-1]}" if tail else ""),
        hint=f"its log is {log_path}",
    )


def _stop(folder: Path, json_out: bool) -> None:
    answer = ask(folder, "stop")
    if answer is not None:
        pid = int(answer["pid"])
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    else:
        # A socket left by a daemon that was killed: nothing listens; tidy it away.
        with contextlib.suppress(OSError):
            paths.daemon_socket(folder).unlink()
    if json_out:
        print_json({"running": False, "stopped": answer is not None})
        return
    if answer is None:
        out.print(f"no daemon serves {folder}", markup=False)
    else:
        out.print(f"daemon for {folder} stopped (pid {answer['pid']})", markup=False)


def _status(folder: Path, json_out: bool) -> None:
    answer = ask(folder, "status")
    if json_out:
        print_json({"running": answer is not None, **_public(answer or {"folder": str(folder)})})
        return
    if answer is None:
        out.print(f"no daemon serves {folder}", markup=False)
        return
    out.print(
        f"daemon for {answer['folder']}: pid {answer['pid']}, up {answer['uptime']:.0f} s, "
        f"{answer['commands']} command(s) run; watching {answer['roots']} worker folder(s) "
        f"({answer['folders']} folders), {answer['workers_known']} file set(s) known",
        markup=False,
    )
    if answer.get("overflows"):
        out.print(
            f"the event queue overflowed {answer['overflows']} time(s): every worker was "
            "walked again after it",
            markup=False,
        )


def _public(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "op"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours (the test suite's) counts as gone.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True
