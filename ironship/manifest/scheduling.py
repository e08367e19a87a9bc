"""A worker's ``schedules:``: reading ``every`` and RFC3339 times, the checks a schema cannot
express, and the ``WorkerSchedule`` values (README "Schedules").

``every`` is ``90s``, ``15m``, ``1h``, ``1d`` or a number of seconds; IronWorker refuses a
``run_every`` under 60 seconds (docs/ironworker-api.md §4 (Schedules)), so the manifest does
too, with the place and the fix. Times must carry their offset (``Z`` or ``+02:00``): a time
without one would mean a different instant on every machine. A schedule's payload deep-merges
over the worker's like a smoke test's (``defaults.smoke_payload``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ironship.manifest.defaults import MAX_JSON_BYTES, smoke_payload
from ironship.manifest.models import Location, WorkerSchedule
from ironship.manifest.yamlpos import Document, JsonPath

MIN_EVERY = 60  # seconds: IronWorker's smallest run_every
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"([1-9][0-9]*)([smhd])")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
EVERY_HINT = "write a number of seconds, or a number with s, m, h or d (90s, 15m, 1h, 1d)"
TIME_HINT = "an RFC3339 time with its offset, e.g. '2025-01-31T03:00:00Z' or '…T05:00:00+02:00'"

Add = Callable[[JsonPath, str, "str | None"], None]


def every_seconds(value: Any) -> int | None:
    """``every`` in seconds (``"15m"`` -> 900, ``120`` -> 120); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _EVERY.fullmatch(value.strip())
        if match:
            return int(match.group(1)) * UNITS[match.group(2)]
    return None


def format_every(seconds: int) -> str:
    """The shortest way ``every`` says ``seconds``: 86400 -> ``1d``, 1800 -> ``30m``."""
    for unit in ("d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(value: Any) -> datetime | None:
    """An RFC3339 time with its offset, or None when ``value`` is not one."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value.strip()):
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:  # e.g. February 30th
        return None


def utc_text(moment: datetime) -> str:
    """``moment`` as RFC3339 in UTC: ``2025-01-31T03:00:00Z`` (microseconds kept when set)."""
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def schedule_values(
    raw: Sequence[Mapping[str, Any]],
    worker_payload: Any,
    where: Callable[[JsonPath], Location | None],
) -> tuple[WorkerSchedule, ...]:
    """The WorkerSchedule values of a validated ``schedules:`` list (``where`` locates item i
    given ``(i,)``)."""
    return tuple(_value(s, worker_payload, where((i,))) for i, s in enumerate(raw))


def _value(s: Mapping[str, Any], worker_payload: Any, location: Location | None) -> WorkerSchedule:
    start, end = parse_time(s.get("start_at")), parse_time(s.get("end_at"))
    priority, timeout, run_times = s.get("priority"), s.get("timeout"), s.get("run_times")
    return WorkerSchedule(
        name=s["name"],
        every=every_seconds(s["every"]) if "every" in s else None,
        start_at=utc_text(start) if start is not None else None,
        end_at=utc_text(end) if end is not None else None,
        run_times=int(run_times) if run_times is not None else None,
        payload=smoke_payload(worker_payload, s),
        priority=int(priority) if priority is not None else None,
        timeout=int(timeout) if timeout is not None else None,
        location=location,
    )


def schedule_problems(
    doc: Document, add: Add, worker: str, schedules: Sequence[Any], worker_payload: Any
) -> None:
    """Report (through ``add``) what the schema cannot say about one worker's schedules."""
    seen: dict[str, int] = {}
    for index, item in enumerate(schedules):
        if not isinstance(item, Mapping):
            continue
        path: JsonPath = ("workers", worker, "schedules", index)
        name = item.get("name")
        if isinstance(name, str):
            if name in seen:
                first = doc.at((*path[:-1], seen[name], "name")).line
                message = f"schedule name '{name}' is already used on line {first}"
                add((*path, "name"), message, "give each schedule of a worker its own name")
            else:
                seen[name] = index
        _check_every(add, path, item)
        _check_times(add, path, item)
        if "payload" in item:
            size = len(json.dumps(smoke_payload(worker_payload, item)).encode("utf-8"))
            if size > MAX_JSON_BYTES:
                message = f"payload is {size} bytes as JSON; IronWorker accepts at most 65536"
                add((*path, "payload"), message, "pass large data by reference")


def _check_every(add: Add, path: JsonPath, item: Mapping[str, Any]) -> None:
    if "every" not in item:
        run_times = item.get("run_times")
        if isinstance(run_times, int) and not isinstance(run_times, bool) and run_times > 1:
            message = f"run_times {run_times} without 'every': a schedule without it runs once"
            add((*path, "run_times"), message, "add 'every:' (e.g. every: 1h), or drop run_times")
        return
    value = item["every"]
    seconds = every_seconds(value)
    if seconds is None:
        if isinstance(value, str):  # other types are the schema's to report
            add((*path, "every"), f"'{value}' is not a duration", EVERY_HINT)
        return
    if seconds < MIN_EVERY:
        message = (
            f"every {value} is {seconds} seconds; IronWorker runs a schedule at most once a minute"
        )
        hint = "use 60s (1m) or more; for a single run, drop 'every' and set start_at"
        add((*path, "every"), message, hint)


def _check_times(add: Add, path: JsonPath, item: Mapping[str, Any]) -> None:
    times: dict[str, datetime] = {}
    for key in ("start_at", "end_at"):
        value = item.get(key)
        if not isinstance(value, str):
            continue  # absent, or the schema's to report
        moment = parse_time(value)
        if moment is None:
            add((*path, key), f"'{value}' is not an RFC3339 time with an offset", TIME_HINT)
        else:
            times[key] = moment
    if "start_at" in times and "end_at" in times and times["end_at"] < times["start_at"]:
        message = f"end_at {item['end_at']} is before start_at {item['start_at']}"
        add((*path, "end_at"), message, "end_at must come after start_at")
