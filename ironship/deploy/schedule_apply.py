"""Carry out one worker's schedule plans: cancel, create, read back (deploy/schedules.py).

Called by the executor after the worker's code is uploaded (and before a pruned worker is
deleted), never for a worker whose upload failed. A changed schedule is cancelled first and
created again: IronWorker has no portable update. Every created schedule is read back, and
its label checked: a server that dropped it would leave ironship unable to recognise the
schedule at the next plan, which would then create it again and again.
"""

from __future__ import annotations

from ironship.deploy.models import (
    ScheduleOutcome,
    SchedulePlan,
    ScheduleResult,
    WorkerPlan,
)
from ironship.deploy.schedules import ScheduleStore, create_request
from ironship.errors import IronshipError

DONE: dict[str, ScheduleOutcome] = {
    "create": "created",
    "update": "replaced",
    "delete": "cancelled",
}


def apply_schedules(store: object, wp: WorkerPlan) -> tuple[ScheduleResult, ...]:
    """Every schedule plan of ``wp`` carried out, in order; a failure ends that schedule only."""
    if not isinstance(store, ScheduleStore):
        why = "this server connection cannot manage schedules"
        return tuple(_failed(sp, why) if sp.changes_server else _kept(sp) for sp in wp.schedules)
    return tuple(_one(store, sp) for sp in wp.schedules)


def skip_schedules(wp: WorkerPlan, why: str) -> tuple[ScheduleResult, ...]:
    """The results of a worker whose schedules were not touched (its upload did not happen)."""
    return tuple(
        ScheduleResult(sp.name, sp.action, "skipped", message=why)
        if sp.changes_server
        else _kept(sp)
        for sp in wp.schedules
    )


def kept_schedules(wp: WorkerPlan) -> tuple[ScheduleResult, ...]:
    """The results of a worker none of whose schedules changes."""
    return tuple(_kept(sp) for sp in wp.schedules)


def failure_message(results: tuple[ScheduleResult, ...]) -> str | None:
    """One line naming each failed schedule, or None when none failed."""
    failed = [f"schedule {r.name}: {r.message}" for r in results if r.outcome == "failed"]
    return "; ".join(failed) or None


def _kept(sp: SchedulePlan) -> ScheduleResult:
    outcome: ScheduleOutcome = "orphan" if sp.action == "orphan" else "unchanged"
    return ScheduleResult(sp.name, sp.action, outcome, sp.remote.id if sp.remote else None)


def _failed(sp: SchedulePlan, why: str, cancelled: tuple[str, ...] = ()) -> ScheduleResult:
    return ScheduleResult(sp.name, sp.action, "failed", cancelled=cancelled, message=why)


def _one(store: ScheduleStore, sp: SchedulePlan) -> ScheduleResult:
    if not sp.changes_server:
        return _kept(sp)
    cancelled: list[str] = []
    for old in sp.cancel:
        try:
            store.cancel_schedule(old.id)
        except IronshipError as exc:
            return _failed(sp, f"cancelling {old.id}: {exc}", tuple(cancelled))
        cancelled.append(old.id)
    done = tuple(cancelled)
    if not sp.create or sp.desired is None:
        return ScheduleResult(sp.name, sp.action, DONE.get(sp.action, "cancelled"), cancelled=done)
    try:
        new_id = store.create_schedule(create_request(sp.desired))
        kept = store.get_schedule(new_id).label
    except IronshipError as exc:
        before = f"cancelled {', '.join(done)}, but " if done else ""
        return _failed(sp, f"{before}creating it failed: {exc}", done)
    if kept != sp.desired.label:
        return _label_dropped(store, sp, new_id, done)
    return ScheduleResult(sp.name, sp.action, DONE[sp.action], new_id, done)


def _label_dropped(
    store: ScheduleStore, sp: SchedulePlan, new_id: str, done: tuple[str, ...]
) -> ScheduleResult:
    """The server kept no label: cancel the new schedule, or every apply would add one more."""
    why = "the server did not keep the schedule's label, so ironship could not recognise it"
    try:
        store.cancel_schedule(new_id)
    except IronshipError as exc:
        return _failed(sp, f"{why}; cancelling {new_id} again failed too: {exc}", done)
    return _failed(sp, f"{why}; cancelled {new_id} again", (*done, new_id))
