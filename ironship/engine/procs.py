"""Finding processes by a variable in their environment: how the engine recognises a task's
processes (each carries its ``TASK_DIR``), at a task's end (``run/sandbox.py``) and when a
restarted engine checks that the tasks of the last one are gone (``state/runs.py``)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable


def every_pid() -> Iterable[int]:
    return (int(e.name) for e in os.scandir("/proc") if e.name.isdigit())


def marked(marks: Collection[bytes], pids: Iterable[int] | None = None) -> list[int]:
    """Those of ``pids`` (default: every process) other than this one whose environment holds
    one of ``marks`` (``NAME=value``). A zombie's environment reads empty: only live processes
    match."""
    own = os.getpid()
    found = []
    for pid in every_pid() if pids is None else pids:
        if pid == own:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        if not set(marks).isdisjoint(environ.split(b"\0")):
            found.append(pid)
    return found
