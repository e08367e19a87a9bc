"""Declared schedules in the plan: recognise ironship's own on the server, diff, describe.

Each schedule ironship creates carries the label ``ironship:WORKER/NAME:DIGEST``: the worker
and the declared name say which one it is (never its position in a list), the digest says
what it was created with (every field of the create request). A schedule is unchanged when
its digest is the declared one; otherwise it is replaced: IronWorker has no portable schedule
update (docs/ironworker-api.md §4 (Schedules): ``PUT`` is in one client only), so apply
cancels the old one and creates the new one. A label rather than a payload key: a stamp in
the payload would change what every task receives. Schedules without ironship's label for
their worker are orphans, left alone unless ``--prune``.

Which server schedules count: cancelled ones never (they are history); ``complete`` ones (no
run due any more, e.g. a one-off that ran) still stand for their declaration, so a one-off
is not created again at the next apply, but are neither cancelled nor listed as orphans.

``plan_schedules`` adds the schedules to a Plan with one list call; the executor carries
them out (``apply_schedules``), after the worker's upload.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ironship.deploy.models import DesiredSchedule, Plan, SchedulePlan, WorkerPlan
from ironship.iron.types import Schedule
from ironship.manifest.models import Manifest, Worker, WorkerSchedule
from ironship.manifest.scheduling import format_every, parse_time

LABEL_PREFIX = "ironship:"
_LABEL = re.compile(r"ironship:([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+):([0-9a-f]+)")
DIGEST_CHARS = 16


@runtime_checkable
class ScheduleSource(Protocol):
    """Lists a project's schedules (docs/ironworker-api.md §4 (Schedules))."""

    def list_schedules(self) -> list[Schedule]: ...


@runtime_checkable
class ScheduleStore(ScheduleSource, Protocol):
    """Reads, creates and cancels schedules: what apply needs."""

    def get_schedule(self, schedule_id: str) -> Schedule: ...

    def create_schedule(self, schedule: Mapping[str, Any]) -> str: ...

    def cancel_schedule(self, schedule_id: str) -> None: ...


# -- the desired side -------------------------------------------------------------------------


def desired_schedule(worker: Worker, s: WorkerSchedule) -> DesiredSchedule:
    """The schedule to create for ``s`` of ``worker``, stamped with its label."""
    fields: dict[str, Any] = {
        "run_every": s.every,
        "start_at": s.start_at,
        "end_at": s.end_at,
        "run_times": s.run_times,
        "payload": json.dumps(s.payload if s.payload is not None else {}),
        "priority": s.priority,
        "timeout": s.timeout,
    }
    canonical = {**fields, "code_name": worker.name, "payload": _meaning(fields["payload"])}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]
    label = f"{LABEL_PREFIX}{worker.name}/{s.name}:{digest}"
    return DesiredSchedule(worker.name, s.name, label, **fields)


def create_request(d: DesiredSchedule) -> dict[str, Any]:
    """The body entry of ``POST schedules`` for ``d``; unset fields are left out."""
    body: dict[str, Any] = {"code_name": d.worker, "payload": d.payload, "label": d.label}
    optional = {
        "run_every": d.run_every,
        "start_at": d.start_at,
        "end_at": d.end_at,
        "run_times": d.run_times,
        "priority": d.priority,
        "timeout": d.timeout,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def parse_label(label: str | None) -> tuple[str, str, str] | None:
    """(worker, name, digest) of an ironship label; None for any other label."""
    match = _LABEL.fullmatch(label or "")
    return (match.group(1), match.group(2), match.group(3)) if match else None


# -- the pure diff ------------------------------------------------------------------------------


def plan_worker_schedules(
    worker: str,
    declared: Sequence[DesiredSchedule] | None,
    remote: Iterable[Schedule],
    *,
    prune: bool = False,
) -> tuple[SchedulePlan, ...]:
    """Decide every schedule of one worker: the declared ones first (in order), then those
    removed from the manifest, then orphans (cancelled with ``prune``).

    ``declared`` is None for a worker that is not in the manifest (an orphan worker, or one
    --prune deletes): every schedule still due is then an orphan, cancelled with ``prune``.
    """
    standing = [s for s in remote if s.code_name == worker and s.status != "cancelled"]
    if declared is None:
        due = sorted((s for s in standing if s.active), key=_orphan_name)
        why = "its worker is not in the manifest"
        return tuple(_orphan(s, why, cancel=prune) for s in due)
    ours: dict[str, list[Schedule]] = {}
    others: list[Schedule] = []
    for s in _newest_first(standing):
        parsed = parse_label(s.label)
        if parsed is not None and parsed[0] == worker:
            ours.setdefault(parsed[1], []).append(s)
        else:
            others.append(s)
    out = [_declared(d, ours.pop(d.name, [])) for d in declared]
    for name in sorted(ours):
        out.extend(_removed(name, ours[name]))
    due = sorted((s for s in others if s.active), key=_orphan_name)
    out.extend(_orphan(s, "not created by ironship", cancel=prune) for s in due)
    return tuple(out)


def _newest_first(schedules: Iterable[Schedule]) -> list[Schedule]:
    return sorted(schedules, key=lambda s: (s.created_at or "", s.id), reverse=True)


def _declared(d: DesiredSchedule, mine: list[Schedule]) -> SchedulePlan:
    same = [s for s in mine if s.label == d.label]
    if same:
        keep = same[0]
        extra = tuple(s for s in mine if s.active and s is not keep)
        if not extra:
            return SchedulePlan(d.name, "unchanged", desired=d, remote=keep)
        why = f"{len(extra)} more on the server with this name: cancelled"
        return SchedulePlan(d.name, "update", (why,), desired=d, remote=keep, cancel=extra)
    if not mine:
        return SchedulePlan(d.name, "create", desired=d, create=True)
    old = mine[0]
    cancel = tuple(s for s in mine if s.active)
    return SchedulePlan(
        d.name, "update", describe_change(old, d), desired=d, remote=old, cancel=cancel, create=True
    )


def _removed(name: str, mine: list[Schedule]) -> list[SchedulePlan]:
    due = tuple(s for s in mine if s.active)
    if not due:
        return []  # over already (complete): nothing left to cancel
    return [SchedulePlan(name, "delete", ("not in the manifest",), remote=due[0], cancel=due)]


def _orphan_name(s: Schedule) -> str:
    return s.label or s.id


def _orphan(s: Schedule, why: str, *, cancel: bool) -> SchedulePlan:
    if cancel:
        return SchedulePlan(
            _orphan_name(s), "delete", (f"{why}; --prune cancels it",), remote=s, cancel=(s,)
        )
    return SchedulePlan(_orphan_name(s), "orphan", (f"{why}; left alone",), remote=s)


def describe_change(old: Schedule, d: DesiredSchedule) -> tuple[str, ...]:
    """What differs between the server's schedule and the declared one, as plan text.

    Only fields the manifest sets are compared (the server fills the others in); when none
    of them differs (a field was removed from the manifest), the digest alone says so.
    """
    out = []
    if old.run_every != d.run_every:
        out.append(f"every {_every(old.run_every)} → {_every(d.run_every)}")
    for key in ("start_at", "end_at"):
        after = getattr(d, key)
        before = getattr(old, key)
        if after is not None and not _same_time(before, after):
            out.append(f"{key} {_time(before)} → {after}")
        elif after is None and key == "end_at" and before is not None:
            out.append(f"end_at {_time(before)} → unset")
    for key in ("run_times", "priority", "timeout"):
        after, before = getattr(d, key), getattr(old, key)
        if after is not None and before != after:
            out.append(f"{key} {'unset' if before is None else before} → {after}")
    if _meaning(old.payload or "{}") != _meaning(d.payload):
        out.append("payload changed")
    return tuple(out) or ("changed since it was created",)


def timing(
    run_every: int | None, start_at: str | None, end_at: str | None, times: int | None
) -> str:
    """``every 1d``, ``every 1h from …, until …, 3 times``, ``once at …``."""
    if run_every is None:
        return f"once at {start_at}" if start_at else "once"
    text = f"every {format_every(run_every)}"
    if start_at:
        text += f" from {start_at}"
    if end_at:
        text += f" until {end_at}"
    if times:
        text += f", {times} time" + ("s" if times != 1 else "")
    return text


def schedule_timing(sp: SchedulePlan) -> str:
    """The timing a plan line shows: the declared one, else the server's."""
    if sp.desired is not None:
        d = sp.desired
        return timing(d.run_every, d.start_at, d.end_at, d.run_times)
    r = sp.remote
    return timing(r.run_every, None, r.end_at, r.run_times) if r is not None else ""


def _every(seconds: int | None) -> str:
    return format_every(seconds) if seconds else "unset"


def _time(text: str | None) -> str:
    return text if text else "unset"


def _same_time(before: str | None, after: str) -> bool:
    a, b = _instant(before), _instant(after)
    return a is not None and a == b


def _instant(text: str | None) -> datetime | None:
    return parse_time(text) if text else None


def _meaning(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload


# -- gathering ----------------------------------------------------------------------------------


def plan_schedules(source: object, manifest: Manifest, plan: Plan) -> Plan:
    """``plan`` with every planned worker's schedules decided: one list call.

    A source that cannot list schedules leaves the plan as it is. Workers outside the plan
    (``--only``) are not looked at.
    """
    if not isinstance(source, ScheduleSource):
        return plan
    remote = source.list_schedules()
    by_code: dict[str, list[Schedule]] = {}
    for s in remote:
        by_code.setdefault(s.code_name, []).append(s)
    workers = tuple(
        _with_schedules(wp, manifest.worker(wp.name), by_code.get(wp.name, []), plan.prune)
        for wp in plan.workers
    )
    return replace(plan, workers=workers)


def _with_schedules(
    wp: WorkerPlan, worker: Worker | None, remote: list[Schedule], prune: bool
) -> WorkerPlan:
    declared = [desired_schedule(worker, s) for s in worker.schedules] if worker else None
    return replace(wp, schedules=plan_worker_schedules(wp.name, declared, remote, prune=prune))
