"""Validation of request bodies into the state layer's values, tolerant the way clients need.

The official clients send nulls, empty strings, ``priority: -3``, ``timeout: 0``, ``sync``,
``name`` and other unknown keys; all of those mean "use the default" (docs/ironworker-api.md
§3 (Tasks) and §8 (What the official clients send)). Wrong types and values past the
documented limits are a 400 with a message. What comes out is ``state.model``'s values
(``TaskRequest``, ``ScheduleRequest``, ``CodeSettings``, ``Page``), checked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from ironship.engine.http.wire import HttpFailure, parse_time
from ironship.engine.state.model import (
    CodeSettings,
    Page,
    ScheduleRequest,
    ScheduleUpdate,
    TaskRequest,
)

# Limits of docs/ironworker-api.md §1 (Transport).
MAX_PAYLOAD = 64 * 1024  # payload and config
MAX_TIMEOUT = 3600
MAX_DELAY = 604_800
MAX_RETRIES = 10
MIN_RUN_EVERY = 60
MAX_RUN_EVERY = 10 * 366 * 86_400  # not documented; bounded so next_start stays renderable
# Integers past this are refused: SQLite stores 64 bits and JavaScript (NODE) reads 53.
MAX_INT = 2**53 - 1


def page(number: int, size: int) -> Page:
    """IronWorker paging: ``page`` from 0 to 100, ``per_page`` from 1 to 100."""
    if number < 0 or number > 100:
        raise HttpFailure(400, "page must be between 0 and 100")
    if not 1 <= size <= 100:
        raise HttpFailure(400, "per_page must be between 1 and 100")
    return Page(number, size)


def loads_object(body: bytes) -> dict[str, Any]:
    """A JSON object body; an empty body is ``{}`` (PY cancels with no body at all)."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpFailure(400, f"invalid JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise HttpFailure(400, "the JSON body must be an object")
    try:
        # A "\ud800" escape decodes to a lone surrogate, which no UTF-8 store can hold.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise HttpFailure(400, "invalid JSON body: a string has a lone UTF-16 surrogate") from None
    return value


def _blank(value: object) -> bool:
    return value is None or value == ""


def opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    """An integer field, or None when absent/null/"". Floats with no fraction are accepted."""
    value = raw.get(key)
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise HttpFailure(400, f"{key} must be an integer")
    number: int | None = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = int(value.strip())
    elif isinstance(value, int):
        number = value
    if number is None:
        raise HttpFailure(400, f"{key} must be an integer, got {value!r}")
    if abs(number) > MAX_INT:
        raise HttpFailure(400, f"{key} is out of range (at most {MAX_INT})")
    return number


def opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    """A string field, or None when absent/null/""."""
    value = raw.get(key)
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise HttpFailure(400, f"{key} must be a string")
    return value


def text_blob(raw: Mapping[str, Any], key: str) -> str | None:
    """payload/config: a string (clients JSON-encode objects; we do it for them), ≤ 64 KB."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True)
    if not isinstance(value, str):
        raise HttpFailure(400, f"{key} must be a string")
    if len(value.encode("utf-8")) > MAX_PAYLOAD:
        raise HttpFailure(400, f"{key} is larger than 64 KB ({MAX_PAYLOAD} bytes)")
    return value


def _name(raw: Mapping[str, Any], key: str = "code_name") -> str:
    value = opt_str(raw, key)
    if value is None:
        raise HttpFailure(400, f"{key} is required")
    return value


def _priority(raw: Mapping[str, Any]) -> int | None:
    value = opt_int(raw, "priority")
    # CLI sends -3 when unset: anything outside 0..2 means "the code's default".
    return value if value is not None and 0 <= value <= 2 else None


def _timeout(raw: Mapping[str, Any]) -> int:
    value = opt_int(raw, "timeout")
    # CLI sends 0 meaning "the maximum"; past the maximum is clamped to it.
    if value is None or value <= 0:
        return MAX_TIMEOUT
    return min(value, MAX_TIMEOUT)


def _delay(raw: Mapping[str, Any], key: str = "delay") -> int:
    value = opt_int(raw, key)
    if value is None or value < 0:
        return 0
    if value > MAX_DELAY:
        raise HttpFailure(400, f"{key} must be at most {MAX_DELAY} seconds")
    return value


def task_request(raw: object) -> TaskRequest:
    """One entry of ``{"tasks": [...]}``."""
    if not isinstance(raw, dict):
        raise HttpFailure(400, "each task must be a JSON object")
    return TaskRequest(
        code_name=_name(raw),
        payload=text_blob(raw, "payload") or "",
        priority=_priority(raw),
        timeout=_timeout(raw),
        delay=_delay(raw),
        cluster=opt_str(raw, "cluster") or "default",
        label=opt_str(raw, "label"),
    )


def task_requests(body: Mapping[str, Any]) -> list[TaskRequest]:
    """The ``tasks`` list of a queue request."""
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise HttpFailure(400, 'the body must be {"tasks": [{...}, ...]} with at least one task')
    return [task_request(t) for t in tasks]


def _timing(raw: Mapping[str, Any]) -> tuple[int | None, int | None, float | None, float | None]:
    """run_every, run_times, start_at and end_at of a schedule body, checked."""
    run_every = opt_int(raw, "run_every")
    if run_every is not None and run_every < MIN_RUN_EVERY:
        raise HttpFailure(400, f"run_every must be at least {MIN_RUN_EVERY} seconds")
    if run_every is not None and run_every > MAX_RUN_EVERY:
        raise HttpFailure(400, f"run_every must be at most {MAX_RUN_EVERY} seconds")
    run_times = opt_int(raw, "run_times")
    if run_times is not None and run_times < 0:
        raise HttpFailure(400, "run_times must not be negative")
    start_at = parse_time(raw.get("start_at"), "start_at")
    end_at = parse_time(raw.get("end_at"), "end_at")
    if start_at is not None and end_at is not None and end_at < start_at:
        raise HttpFailure(400, "end_at is before start_at")
    # The Go CLI sends run_times 0 when the flag is unset (docs/ironworker-api.md §4
    # (Schedules)).
    return run_every, run_times or None, start_at, end_at


def _delay_key(raw: Mapping[str, Any]) -> str:
    return "task_delay" if not _blank(raw.get("task_delay")) else "delay"


def schedule_request(raw: object) -> ScheduleRequest:
    """One entry of ``{"schedules": [...]}``."""
    if not isinstance(raw, dict):
        raise HttpFailure(400, "each schedule must be a JSON object")
    run_every, run_times, start_at, end_at = _timing(raw)
    return ScheduleRequest(
        code_name=_name(raw),
        payload=text_blob(raw, "payload") or "",
        start_at=start_at,
        end_at=end_at,
        run_every=run_every,
        run_times=run_times,
        priority=_priority(raw),
        timeout=_timeout(raw),
        task_delay=_delay(raw, _delay_key(raw)),
        cluster=opt_str(raw, "cluster") or "default",
        label=opt_str(raw, "label"),
    )


def schedule_update(raw: Mapping[str, Any]) -> ScheduleUpdate:
    """The body of PUT schedules/{id}: only the fields to change, each checked as on create.

    RB sends the options it was given and nothing else (docs/ironworker-api.md §4
    (Schedules)); an absent, null or "" field stays as it is.
    """
    run_every, run_times, start_at, end_at = _timing(raw)
    delay_key = _delay_key(raw)
    return ScheduleUpdate(
        code_name=opt_str(raw, "code_name"),
        payload=text_blob(raw, "payload"),
        start_at=start_at,
        end_at=end_at,
        run_every=run_every,
        run_times=run_times,
        priority=_priority(raw),
        timeout=_timeout(raw) if not _blank(raw.get("timeout")) else None,
        task_delay=_delay(raw, delay_key) if not _blank(raw.get(delay_key)) else None,
        cluster=opt_str(raw, "cluster"),
        label=opt_str(raw, "label"),
    )


def schedule_requests(body: Mapping[str, Any]) -> list[ScheduleRequest]:
    """The ``schedules`` list of a create request."""
    items = body.get("schedules")
    if not isinstance(items, list) or not items:
        raise HttpFailure(400, 'the body must be {"schedules": [{...}]} with at least one entry')
    return [schedule_request(s) for s in items]


def code_settings(raw: Mapping[str, Any]) -> tuple[str, CodeSettings]:
    """The ``data`` part of an upload: the code name and the settings it gives (None = unset)."""
    name = _name(raw, "name")
    if len(name) > 255 or "/" in name or not name.isprintable():
        # Printable only: the name ends up in download's Content-Disposition header.
        raise HttpFailure(400, "name must be at most 255 printable characters with no '/'")
    env = raw.get("env_vars")
    if _blank(env):
        env = {}
    if not isinstance(env, dict):
        raise HttpFailure(400, "env_vars must be an object of strings")
    for key, value in env.items():
        if not isinstance(value, str | int | float | bool) or not key:
            raise HttpFailure(400, f"env_vars.{key} must be a string")
    priority = opt_int(raw, "default_priority")
    if priority is None:
        priority = opt_int(raw, "priority")
    retries = opt_int(raw, "retries")
    if retries is not None and not 0 <= retries <= MAX_RETRIES:
        raise HttpFailure(400, f"retries must be between 0 and {MAX_RETRIES}")
    max_concurrency = opt_int(raw, "max_concurrency")
    retries_delay = opt_int(raw, "retries_delay")
    if retries_delay is not None and not 0 <= retries_delay <= MAX_DELAY:
        raise HttpFailure(400, f"retries_delay must be between 0 and {MAX_DELAY}")
    settings = CodeSettings(
        runtime=opt_str(raw, "runtime"),
        file_name=opt_str(raw, "file_name"),
        stack=opt_str(raw, "stack"),
        image=opt_str(raw, "image"),
        command=opt_str(raw, "command"),
        config=text_blob(raw, "config"),
        env_vars={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}
        or None,
        # -1 or unset means unlimited; GO's `iron register` sends default_priority -1000.
        max_concurrency=max_concurrency if max_concurrency and max_concurrency > 0 else None,
        retries=retries,
        retries_delay=retries_delay,
        priority=priority if priority is not None and 0 <= priority <= 2 else None,
    )
    return name, settings
