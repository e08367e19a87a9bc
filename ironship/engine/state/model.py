"""The state layer's vocabulary: ids, statuses, the requests it accepts and the errors it raises.

The http layer builds these values from request bodies (``http/parse.py``) and maps the errors
to status codes (``http/app.py``); the state layer itself knows nothing of HTTP, so it can be
driven by the dispatcher or a test just as well (docs/architecture.md, Conventions 8).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

Row = dict[str, Any]

UNFINISHED = ("queued", "preparing", "running")
FINISHED = ("complete", "error", "cancelled", "timeout", "killed")
STATUSES = (*UNFINISHED, *FINISHED)


def new_id() -> str:
    """A fresh 24-hex id, the ObjectId shape the Ruby client's ``check_id`` insists on."""
    return secrets.token_hex(12)


# -- what callers ask for ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of a list: ``number`` from 0, ``size`` rows (the caller checked both)."""

    number: int
    size: int

    @property
    def limit(self) -> int:
        return self.size

    @property
    def offset(self) -> int:
        return self.number * self.size


@dataclass(frozen=True)
class CodeSettings:
    """The settings of one upload; None means "not given" (an update keeps the old value)."""

    runtime: str | None = None
    file_name: str | None = None
    stack: str | None = None
    image: str | None = None
    command: str | None = None
    config: str | None = None
    env_vars: Mapping[str, str] | None = None
    max_concurrency: int | None = None
    retries: int | None = None
    retries_delay: int | None = None
    priority: int | None = None


# The revision columns that hold settings, in CodeSettings' order.
SETTING_KEYS = tuple(f.name for f in fields(CodeSettings))


@dataclass(frozen=True)
class TaskRequest:
    """One task to queue; a None priority means "the code's default"."""

    code_name: str
    payload: str
    priority: int | None
    timeout: int
    delay: int
    cluster: str
    label: str | None


@dataclass(frozen=True)
class TaskFilter:
    """Which tasks a list shows; None or empty means "any"."""

    code_name: str | None = None
    statuses: tuple[str, ...] = ()
    from_time: float | None = None
    to_time: float | None = None
    cluster: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ScheduleRequest:
    """One schedule to create (times as epoch seconds)."""

    code_name: str
    payload: str
    start_at: float | None
    end_at: float | None
    run_every: int | None
    run_times: int | None
    priority: int | None
    timeout: int
    task_delay: int
    cluster: str
    label: str | None


@dataclass(frozen=True)
class ScheduleUpdate:
    """The fields a PUT changes on a schedule; None leaves a field as it is."""

    code_name: str | None = None
    payload: str | None = None
    start_at: float | None = None
    end_at: float | None = None
    run_every: int | None = None
    run_times: int | None = None
    priority: int | None = None
    timeout: int | None = None
    task_delay: int | None = None
    cluster: str | None = None
    label: str | None = None


# -- what the state layer refuses with ---------------------------------------------------------


class StateError(Exception):
    """A request the stored state does not allow; ``str(exc)`` says why, for the client."""


class NotFound(StateError):
    """The object does not exist in the caller's project (another project's is not found)."""


class Conflict(StateError):
    """The object exists but is in the wrong state for this (e.g. retrying a queued task)."""


class OverLimit(StateError):
    """The project would exceed one of its limits (e.g. active schedules)."""
