"""Domain values of the IronWorker API: codes, revisions, tasks, schedules.

Frozen dataclasses (docs/architecture.md, Conventions 4) parsed tolerantly from the JSON the
server returns (docs/ironworker-api.md §2 (Code packages), §3 (Tasks), §4 (Schedules)):
missing keys become None, ``env_vars: null`` becomes ``{}``, ``code_rev`` is always a string
and ``rev`` an int.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Task statuses (docs/ironworker-api.md §3 (Tasks)). The official clients wait while a task is
# queued, preparing or running; FINISHED are the statuses that end a task. A status ironship
# does not know is treated as not finished yet, like the clients do, so every wait needs a bound.
NOT_STARTED = frozenset({"queued", "preparing"})
FINISHED = frozenset({"complete", "error", "cancelled", "timeout", "killed"})
# Schedule statuses after which no run is due any more (docs/ironworker-api.md §4 (Schedules)).
SCHEDULE_OVER = frozenset({"complete", "cancelled"})
# How IronWorker shows an unset schedule time (Go's zero time); read as unset.
ZERO_TIME_PREFIX = "0001-01-01"


def is_finished(status: str) -> bool:
    """True once ``status`` can no longer change."""
    return status in FINISHED


@dataclass(frozen=True)
class Code:
    """A code package as the code list and ``GET codes/{id}`` return it."""

    id: str
    name: str
    rev: int
    latest_checksum: str | None = None
    runtime: str | None = None
    file_name: str | None = None
    max_concurrency: int | None = None
    retries: int | None = None
    retries_delay: int | None = None
    priority: int | None = None
    stack: str | None = None
    config: str | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict, hash=False)
    latest_change: str | None = None
    latest_history_id: str | None = None  # the id of the newest revision
    created_at: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Code:
        return cls(
            id=_str(d, "id") or "",
            name=_str(d, "name") or "",
            rev=_int(d, "rev") or 0,
            latest_checksum=_str(d, "latest_checksum"),
            latest_change=_str(d, "latest_change"),
            latest_history_id=_str(d, "latest_history_id"),
            created_at=_str(d, "created_at"),
            **_settings(d),
        )


@dataclass(frozen=True)
class Revision:
    """One entry of ``GET codes/{id}/revisions``."""

    id: str
    code_id: str
    rev: int
    checksum: str | None = None
    code_size: int | None = None
    created_at: str | None = None
    file_name: str | None = None
    runtime: str | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict, hash=False)
    config: str | None = None
    max_concurrency: int | None = None
    retries: int | None = None
    retries_delay: int | None = None
    priority: int | None = None
    stack: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Revision:
        return cls(
            id=_str(d, "id") or "",
            code_id=_str(d, "code_id") or "",
            rev=_int(d, "rev") or 0,
            checksum=_str(d, "checksum"),
            code_size=_int(d, "code_size"),
            created_at=_str(d, "created_at"),
            **_settings(d),
        )


@dataclass(frozen=True)
class Task:
    """A task; ``code_rev`` is a string on the wire, kept as one; ``duration`` is in ms.

    ``timeout`` and ``delay`` (seconds) are what the task was queued with, when the server
    says so: they bound how long waiting for it can sensibly take.
    """

    id: str
    code_name: str
    code_id: str | None
    code_rev: str | None
    status: str
    msg: str | None = None
    created_at: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration: int | None = None
    timeout: int | None = None
    delay: int | None = None
    percent: int | None = None
    retry_task_id: str | None = None
    original_task_id: str | None = None
    payload: str | None = None

    @property
    def finished(self) -> bool:
        return is_finished(self.status)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Task:
        return cls(
            id=_str(d, "id") or "",
            code_name=_str(d, "code_name") or "",
            code_id=_str(d, "code_id"),
            code_rev=_str(d, "code_rev"),
            status=_str(d, "status") or "",
            msg=_str(d, "msg"),
            created_at=_str(d, "created_at"),
            start_time=_str(d, "start_time"),
            end_time=_str(d, "end_time"),
            duration=_int(d, "duration"),
            timeout=_int(d, "timeout"),
            delay=_int(d, "delay"),
            percent=_int(d, "percent"),
            retry_task_id=_str(d, "retry_task_id"),
            original_task_id=_str(d, "original_task_id"),
            payload=_str(d, "payload"),
        )


@dataclass(frozen=True)
class Schedule:
    """A schedule (docs/ironworker-api.md §4 (Schedules)). ``label`` is where ironship stamps
    the schedules it creates (deploy/schedules.py); ``status`` is ``scheduled`` while runs
    are due, then ``complete`` or ``cancelled`` (a server may leave it out: still due)."""

    id: str
    code_name: str
    status: str | None = None
    payload: str | None = None
    run_every: int | None = None
    run_times: int | None = None
    run_count: int | None = None
    start_at: str | None = None
    end_at: str | None = None
    next_start: str | None = None
    created_at: str | None = None
    msg: str | None = None
    label: str | None = None
    priority: int | None = None
    timeout: int | None = None
    last_run_time: str | None = None
    error_count: int | None = None

    @property
    def active(self) -> bool:
        """Whether runs may still be due: neither complete nor cancelled."""
        return self.status not in SCHEDULE_OVER

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Schedule:
        return cls(
            id=_str(d, "id") or "",
            code_name=_str(d, "code_name") or "",
            status=_str(d, "status"),
            payload=_str(d, "payload"),
            run_every=_int(d, "run_every"),
            # 0 means unset on the wire (docs/ironworker-api.md §4 (Schedules)).
            run_times=_int(d, "run_times") or None,
            run_count=_int(d, "run_count"),
            start_at=_time(d, "start_at"),
            end_at=_time(d, "end_at"),
            next_start=_time(d, "next_start"),
            created_at=_str(d, "created_at"),
            msg=_str(d, "msg"),
            label=_str(d, "label") or None,
            priority=_int(d, "priority"),
            timeout=_int(d, "timeout"),
            last_run_time=_time(d, "last_run_time"),
            error_count=_int(d, "error_count"),
        )


def _str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)  # e.g. a server returning config as an object
    return str(value)


def _time(d: Mapping[str, Any], key: str) -> str | None:
    """A schedule time; Go's zero time (``0001-01-01T00:00:00Z``) means unset."""
    value = _str(d, key)
    return None if not value or value.startswith(ZERO_TIME_PREFIX) else value


def _int(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _settings(d: Mapping[str, Any]) -> dict[str, Any]:
    """The upload settings shared by codes and revisions; ``env_vars: null`` reads as ``{}``."""
    env = d.get("env_vars")
    env_vars = {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}
    priority = _int(d, "priority")
    return {
        "runtime": _str(d, "runtime"),
        "file_name": _str(d, "file_name"),
        "max_concurrency": _int(d, "max_concurrency"),
        "retries": _int(d, "retries"),
        "retries_delay": _int(d, "retries_delay"),
        "priority": priority if priority is not None else _int(d, "default_priority"),
        "config": _str(d, "config"),
        "stack": _str(d, "stack"),
        "env_vars": env_vars,
    }
