"""Wire shapes of the IronWorker API v2: times, errors and the JSON objects.

Every rule here is one a real client depends on: RFC3339 UTC times with milliseconds and
integers never floats (docs/ironworker-api.md §1 (Transport)), the code, revision, task and
schedule objects (§2 (Code packages), §3 (Tasks), §4 (Schedules)), ``code_rev`` as a string,
and task objects without schedule keys, since iron-worker 1.3.8 treats any of them, even null,
as "this is a schedule" (§3 (Tasks), the task object).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"  # how IronWorker shows an unset schedule end_at


class HttpFailure(Exception):
    """A request the engine refuses: rendered as ``{"msg": msg}`` with ``status``.

    ``close``: answer with ``Connection: close`` and hang up, for a refusal made before the
    body was read to its end (else the server would go on reading, and discarding, the rest).
    """

    def __init__(self, status: int, msg: str, *, close: bool = False) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.close = close


# Times the engine accepts and stores: from the epoch to well before year 10000, so a time
# plus any run_every still renders (datetime stops at 9999).
MIN_TIME = 0.0
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


def rfc3339(ts: float | None) -> str | None:
    """Epoch seconds as RFC3339 UTC with milliseconds, or None."""
    if ts is None:
        return None
    try:
        dt = datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        # Never stored by this engine (parse_time bounds every input); a row from elsewhere
        # must not turn a whole list into a 500.
        return ZERO_TIME
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(value: object, field: str) -> float | None:
    """An RFC3339 / ISO 8601 string (or epoch number) as epoch seconds; None for unset.

    Go's zero time (year 1, however it is written) means unset too; anything else outside
    1970..9000 is a 400, so no stored time can break rendering later.
    """
    if value is None or value == "" or value == ZERO_TIME:
        return None
    if isinstance(value, bool):
        raise HttpFailure(400, f"{field} must be an RFC3339 time")
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise HttpFailure(400, f"{field}: {value!r} is not an RFC3339 time") from None
        if dt.year == 1:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            ts = dt.timestamp()
        except (OverflowError, ValueError):
            raise HttpFailure(400, f"{field}: {value!r} is out of range") from None
    else:
        raise HttpFailure(400, f"{field} must be an RFC3339 time")
    if not MIN_TIME <= ts <= MAX_TIME:  # also false for NaN
        raise HttpFailure(400, f"{field}: {value!r} is out of range (1970 to 9000)")
    return ts


def _env(raw: str | None) -> dict[str, str]:
    value = json.loads(raw) if raw else {}
    return dict(value) if isinstance(value, dict) else {}


def _settings(rev: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "runtime": rev["runtime"],
        "file_name": rev["file_name"],
        "config": rev["config"],
        "env_vars": _env(rev["env_vars"]),
        "max_concurrency": rev["max_concurrency"],
        "retries": rev["retries"],
        "retries_delay": rev["retries_delay"],
        "priority": rev["priority"],
        "default_priority": rev["priority"],
    }
    for key in ("stack", "image", "command"):
        if rev[key]:
            out[key] = rev[key]
    return {k: v for k, v in out.items() if v is not None}


def code_json(code: Mapping[str, Any], rev: Mapping[str, Any]) -> dict[str, Any]:
    """The Code object: identity from ``code``, settings from its latest revision ``rev``."""
    out: dict[str, Any] = {
        "id": code["id"],
        "project_id": code["project_id"],
        "name": code["name"],
        "created_at": rfc3339(code["created_at"]),
        "updated_at": rfc3339(code["updated_at"]),
        "latest_change": rfc3339(rev["created_at"]),
        "rev": int(code["rev"]),
        "latest_history_id": rev["id"],
    }
    if rev["checksum"]:
        out["latest_checksum"] = rev["checksum"]
    out.update(_settings(rev))
    if code["paused"]:
        # RB test_basic.rb: a paused queue reads max_concurrency -1.
        out["max_concurrency"] = -1
    return out


def revision_json(rev: Mapping[str, Any]) -> dict[str, Any]:
    """The Revision object (one upload of a code package)."""
    out: dict[str, Any] = {
        "id": rev["id"],
        "code_id": rev["code_id"],
        "project_id": rev["project_id"],
        "name": rev["name"],
        "created_at": rfc3339(rev["created_at"]),
        "updated_at": rfc3339(rev["created_at"]),
        "rev": int(rev["rev"]),
    }
    if rev["checksum"]:
        out["checksum"] = rev["checksum"]
        out["code_size"] = int(rev["code_size"])
    out.update(_settings(rev))
    return out


def task_json(task: Mapping[str, Any]) -> dict[str, Any]:
    """The Task object; omits unset optional keys and never carries schedule keys."""
    out: dict[str, Any] = {
        "id": task["id"],
        "project_id": task["project_id"],
        "code_id": task["code_id"],
        "code_history_id": task["revision_id"],
        "code_name": task["code_name"],
        "code_rev": str(task["code_rev"]),
        "status": task["status"],
        "created_at": rfc3339(task["created_at"]),
        "updated_at": rfc3339(task["updated_at"]),
        "start_time": rfc3339(task["start_time"]),
        "end_time": rfc3339(task["end_time"]),
        "payload": task["payload"],
        "priority": int(task["priority"]),
        "timeout": int(task["timeout"]),
        "delay": int(task["delay"]),
        "cluster": task["cluster"],
        "retry_count": int(task["retry_count"]),
    }
    optional = (
        "msg",
        "percent",
        "duration",
        "label",
        "schedule_id",
        "retry_task_id",
        "original_task_id",
        "error_class",
        "log_size",
    )
    for key in optional:
        if task[key] is not None:
            out[key] = task[key]
    if task["start_time"] is not None:
        out["time_in_queue"] = int((task["start_time"] - task["created_at"]) * 1000)
    return out


def schedule_json(s: Mapping[str, Any]) -> dict[str, Any]:
    """The Schedule object, with unset times as IronWorker shows them."""
    out: dict[str, Any] = {
        "id": s["id"],
        "project_id": s["project_id"],
        "code_name": s["code_name"],
        "payload": s["payload"],
        "status": s["status"],
        "created_at": rfc3339(s["created_at"]),
        "updated_at": rfc3339(s["updated_at"]),
        "start_at": rfc3339(s["start_at"]),
        "end_at": rfc3339(s["end_at"]) or ZERO_TIME,
        "next_start": rfc3339(s["next_start"]) or ZERO_TIME,
        "last_run_time": rfc3339(s["last_run_time"]) or ZERO_TIME,
        "run_count": int(s["run_count"]),
        "error_count": int(s["error_count"]),
        "priority": int(s["priority"]),
        "timeout": int(s["timeout"]),
        "task_delay": int(s["task_delay"]),
        "cluster": s["cluster"],
    }
    for key in ("run_every", "run_times", "msg", "label"):
        if s[key] is not None:
            out[key] = s[key]
    return out
