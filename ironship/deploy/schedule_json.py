"""A plan's schedules as JSON (``plan --json``, plan files) and back, for showing a saved plan.

The document carries what the plan shows and what apply would send, never a payload (a
plan shows no payloads): the declared fields under ``after`` (with the label that stamps
the schedule), the server's under ``before``, the ids to cancel and whether one is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ironship.deploy.models import ACTIONS, DesiredSchedule, SchedulePlan
from ironship.deploy.schedules import schedule_timing
from ironship.iron.types import Schedule

DECLARED = ("run_every", "start_at", "end_at", "run_times", "priority", "timeout")


def schedule_json(sp: SchedulePlan) -> dict[str, Any]:
    """One schedule of a plan as JSON."""
    doc: dict[str, Any] = {"name": sp.name, "action": sp.action, "changes": list(sp.changes)}
    doc["timing"] = schedule_timing(sp)
    doc["id"] = sp.remote.id if sp.remote is not None else None
    doc["cancel"] = [s.id for s in sp.cancel]
    doc["create"] = sp.create
    d = sp.desired
    if d is not None:
        doc["after"] = {
            "worker": d.worker,
            "label": d.label,
            **{k: getattr(d, k) for k in DECLARED},
        }
    r = sp.remote
    if r is not None:
        doc["before"] = {
            "code_name": r.code_name,
            "label": r.label,
            "status": r.status,
            "run_every": r.run_every,
            "end_at": r.end_at,
            "run_times": r.run_times,
        }
    return doc


def schedules_from_json(items: Any) -> tuple[SchedulePlan, ...]:
    """The schedule plans of one worker of a saved plan, for showing it (``show``): what
    ``schedule_json`` wrote. Entries that are not such objects are left out."""
    if not isinstance(items, list):
        return ()
    return tuple(_plan(d) for d in items if _is_entry(d))


def _is_entry(d: Any) -> bool:
    return isinstance(d, Mapping) and isinstance(d.get("name"), str) and d.get("action") in ACTIONS


def _plan(d: Mapping[str, Any]) -> SchedulePlan:
    remote = _remote(d.get("id"), d.get("before"))
    ids = d.get("cancel")
    cancel = ids if isinstance(ids, list) else []
    return SchedulePlan(
        d["name"],
        d["action"],
        tuple(str(c) for c in d.get("changes") or () if isinstance(c, str)),
        desired=_desired(d["name"], d.get("after")),
        remote=remote,
        cancel=tuple(Schedule(str(i), remote.code_name if remote else "") for i in cancel),
        create=d.get("create") is True,
    )


def _desired(name: str, after: Any) -> DesiredSchedule | None:
    if not isinstance(after, Mapping):
        return None
    fields: dict[str, Any] = {k: after.get(k) for k in DECLARED}
    return DesiredSchedule(str(after.get("worker") or ""), name, str(after.get("label")), **fields)


def _remote(sid: Any, before: Any) -> Schedule | None:
    if not isinstance(sid, str):
        return None
    return Schedule.from_json({**(before if isinstance(before, Mapping) else {}), "id": sid})
