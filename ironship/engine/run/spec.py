"""What a task run is given and what it reports: ``RunSpec`` in, ``RunResult`` out.

Both ``runtimes`` (which builds the task's directory, command and environment from a spec)
and ``runner`` (which owns the process) read these, and neither imports the other's types
from the other: the dependency runs one way, runner → runtimes → spec.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

DEFAULT_LOG_LIMIT_MB = 100  # a task's log is cut there and the task stopped
DEFAULT_DISK_LIMIT_MB = 1024  # what a task's directory may grow to

# How a run can end. "killed" (engine shutdown) is reported as "error"; see runner.
Status = Literal["complete", "error", "timeout", "cancelled"]


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to run one task; ``work_root/<task_id>`` becomes its directory."""

    task_id: str
    zip_path: Path
    runtime: str
    file_name: str
    payload: str
    config: str | None
    env_vars: Mapping[str, str]
    timeout: float  # seconds; 0 or less means no limit
    work_root: Path
    log_path: Path  # stdout+stderr appended here as written
    schedule_id: str | None = None
    stack: str | None = None  # e.g. "python-3.11": which interpreter version runs it
    memory_mb: int = 0  # the cap on each of the task's processes; 0 or less means none
    log_limit_mb: int = DEFAULT_LOG_LIMIT_MB  # the task's log; 0 or less means none
    disk_limit_mb: int = DEFAULT_DISK_LIMIT_MB  # the task's directory; 0 or less means none
    hidden: tuple[Path, ...] = ()  # folders the task must not see (the engine's data folder)
    sandbox: bool = True  # run in the machine's sandbox when there is one (see ``sandbox``)


@dataclass(frozen=True)
class RunResult:
    """How a task ended. ``exit_code`` is None when no process ran or a signal ended it."""

    status: Status
    msg: str | None
    exit_code: int | None
    duration_ms: int
    error_class: str | None


class RunningTask(Protocol):
    """A started task as the dispatcher sees it: ``runner.TaskProcess`` in this process, or
    ``host.RemoteTask`` for a task the task host runs."""

    @property
    def pid(self) -> int | None: ...

    def poll(self) -> RunResult | None: ...

    def wait(self, timeout: float | None = None) -> RunResult | None: ...

    def cancel(self) -> None: ...

    def kill(self) -> None: ...

    def add_done_callback(self, callback: Callable[[], None]) -> None: ...


class ResultSlot:
    """How a started task reports its end, for both kinds of ``RunningTask``: the RunResult
    is published once (a second publish is ignored); ``poll`` and ``wait`` read it, and each
    done-callback runs once it is in (at once if it already is)."""

    def __init__(self) -> None:
        self._result: RunResult | None = None
        self._done = threading.Event()
        self._slot_lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def poll(self) -> RunResult | None:
        """The result once the task has ended; never blocks."""
        return self._result

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """Block up to ``timeout`` seconds (None: until the end) and return the result, if any."""
        self._done.wait(timeout)
        return self._result

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        with self._slot_lock:
            if self._result is None:
                self._callbacks.append(callback)
                return
        callback()

    def _publish(self, result: RunResult) -> None:
        with self._slot_lock:
            if self._result is not None:
                return
            self._result = result
            callbacks, self._callbacks = self._callbacks, []
        self._done.set()
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()


def spec_to_wire(spec: RunSpec) -> dict[str, Any]:
    """``spec`` as JSON-able data (for the task host). Field by field: ``asdict`` deep-copies
    every value, which per task cost more than the rest of handing it over."""
    data = {f.name: getattr(spec, f.name) for f in _SPEC_FIELDS}
    for key in ("zip_path", "work_root", "log_path"):
        data[key] = str(data[key])
    data["env_vars"] = dict(spec.env_vars)
    data["hidden"] = [str(p) for p in spec.hidden]
    return data


def spec_from_wire(data: dict[str, Any]) -> RunSpec:
    """The RunSpec ``spec_to_wire`` made ``data`` from."""
    values = dict(data)
    for key in ("zip_path", "work_root", "log_path"):
        values[key] = Path(values[key])
    values["hidden"] = tuple(Path(p) for p in values["hidden"])
    return RunSpec(**values)


def result_to_wire(result: RunResult) -> dict[str, Any]:
    return {f.name: getattr(result, f.name) for f in _RESULT_FIELDS}


_SPEC_FIELDS = dataclasses.fields(RunSpec)
_RESULT_FIELDS = dataclasses.fields(RunResult)


def result_from_wire(data: dict[str, Any]) -> RunResult:
    return RunResult(**data)
