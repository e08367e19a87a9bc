"""Schedules: stored requests that queue tasks at ``start_at`` and then every ``run_every``.

The timing rule is a pure function (``advance``) so it is tested without waiting a minute.
Missed runs (the engine was down) are skipped, not replayed in a burst: a schedule is for
"every so often", and a burst of stale runs after a restart would help nobody.
"""

from __future__ import annotations

import sqlite3

from ironship.engine.state.db import Db
from ironship.engine.state.model import (
    Conflict,
    NotFound,
    OverLimit,
    Page,
    Row,
    ScheduleRequest,
    ScheduleUpdate,
    StateError,
    TaskRequest,
    new_id,
)
from ironship.engine.state.tasks import TaskRepo

MAX_SCHEDULES = 100  # active ones per project, docs/ironworker-api.md §1 (Transport), limits
RAN_MAX_TIMES = "Ran max times."
REACHED_END_AT = "Reached end_at."

_INSERT_SCHEDULE = (
    "INSERT INTO schedules (id, project_id, code_name, payload, status,"
    " created_at, updated_at, start_at, end_at, run_every, run_times,"
    " next_start, priority, timeout, task_delay, cluster, label, prio_given)"
    " VALUES (?, ?, ?, ?, 'scheduled', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def advance(
    next_start: float,
    now: float,
    run_every: int | None,
    run_times: int | None,
    run_count: int,
    end_at: float | None,
) -> tuple[float | None, str | None]:
    """After a run (``run_count`` includes it): the next start, or None and why it is over."""
    if run_times is not None and run_count >= run_times:
        return None, RAN_MAX_TIMES
    if run_every is None:
        return None, RAN_MAX_TIMES
    following = next_start + run_every
    if following <= now:
        missed = int((now - following) // run_every) + 1
        following += missed * run_every
    if end_at is not None and following > end_at:
        return None, REACHED_END_AT
    return following, None


_UPDATE_SCHEDULE = (
    "UPDATE schedules SET code_name=COALESCE(?, code_name), payload=COALESCE(?, payload),"
    " start_at=?, end_at=?, run_every=COALESCE(?, run_every),"
    " run_times=COALESCE(?, run_times), priority=COALESCE(?, priority),"
    " prio_given=MAX(prio_given, ?), timeout=COALESCE(?, timeout),"
    " task_delay=COALESCE(?, task_delay), cluster=COALESCE(?, cluster),"
    " label=COALESCE(?, label), updated_at=? WHERE id=?"
)


def _update_values(
    upd: ScheduleUpdate, start: float, end: float | None, now: float, sid: str
) -> tuple[object, ...]:
    return (
        upd.code_name,
        upd.payload,
        start,
        end,
        upd.run_every,
        upd.run_times,
        upd.priority,
        int(upd.priority is not None),
        upd.timeout,
        upd.task_delay,
        upd.cluster,
        upd.label,
        now,
        sid,
    )


def _task_request(s: Row) -> TaskRequest:
    """The task one run of schedule ``s`` queues."""
    return TaskRequest(
        code_name=s["code_name"],
        payload=s["payload"],
        priority=s["priority"] if s["prio_given"] else None,
        timeout=s["timeout"],
        delay=s["task_delay"],
        cluster=s["cluster"],
        label=s["label"],
    )


def _insert(c: sqlite3.Connection, pid: str, req: ScheduleRequest, now: float) -> str:
    if not c.execute(
        "SELECT 1 FROM codes WHERE project_id=? AND name=?", (pid, req.code_name)
    ).fetchone():
        raise NotFound(f"code package {req.code_name!r} not found")
    sid = new_id()
    start = req.start_at if req.start_at is not None else now
    c.execute(
        _INSERT_SCHEDULE,
        (
            sid,
            pid,
            req.code_name,
            req.payload,
            now,
            now,
            start,
            req.end_at,
            req.run_every,
            req.run_times,
            start,
            req.priority or 0,
            req.timeout,
            req.task_delay,
            req.cluster,
            req.label,
            int(req.priority is not None),
        ),
    )
    return sid


class ScheduleRepo:
    """Schedule CRUD, scoped to a project id, and firing the due ones (for the dispatcher)."""

    def __init__(self, db: Db, tasks: TaskRepo) -> None:
        self._db = db
        self._tasks = tasks

    def create(self, pid: str, reqs: list[ScheduleRequest]) -> list[str]:
        """Create every schedule or none; OverLimit past MAX_SCHEDULES active ones."""
        now = self._db.now()
        with self._db.tx() as c:
            active = c.execute(
                "SELECT COUNT(*) FROM schedules WHERE project_id=? AND status='scheduled'",
                (pid,),
            ).fetchone()[0]
            if active + len(reqs) > MAX_SCHEDULES:
                raise OverLimit(f"a project can have at most {MAX_SCHEDULES} schedules")
            return [_insert(c, pid, req, now) for req in reqs]

    def list_page(self, pid: str, page: Page) -> list[Row]:
        """The project's schedules, newest first."""
        return self._db.all(
            "SELECT * FROM schedules WHERE project_id=? ORDER BY created_at DESC, id"
            " LIMIT ? OFFSET ?",
            (pid, page.limit, page.offset),
        )

    def get(self, pid: str, sid: str) -> Row:
        row = self._db.one("SELECT * FROM schedules WHERE project_id=? AND id=?", (pid, sid))
        if row is None:
            raise NotFound("Schedule not found")
        return row

    def cancel(self, pid: str, sid: str) -> None:
        """Stop a schedule; cancelling one that is already over changes nothing."""
        self.get(pid, sid)
        with self._db.tx() as c:
            c.execute(
                "UPDATE schedules SET status='cancelled', next_start=NULL, updated_at=?"
                " WHERE id=? AND status='scheduled'",
                (self._db.now(), sid),
            )

    def update(self, pid: str, sid: str, upd: ScheduleUpdate) -> None:
        """Change the fields ``upd`` gives (PUT); only a schedule still active can change.

        A new ``start_at`` is also the next run; a ``run_times`` already reached ends it.
        """
        now = self._db.now()
        with self._db.tx() as c:
            row = c.execute(
                "SELECT * FROM schedules WHERE project_id=? AND id=?", (pid, sid)
            ).fetchone()
            if row is None:
                raise NotFound("Schedule not found")
            if row["status"] != "scheduled":
                raise Conflict(
                    f"schedule is {row['status']}; only an active schedule can be updated"
                )
            if (
                upd.code_name is not None
                and not c.execute(
                    "SELECT 1 FROM codes WHERE project_id=? AND name=?", (pid, upd.code_name)
                ).fetchone()
            ):
                raise NotFound(f"code package {upd.code_name!r} not found")
            start = upd.start_at if upd.start_at is not None else row["start_at"]
            end = upd.end_at if upd.end_at is not None else row["end_at"]
            if end is not None and end < start:
                raise Conflict("end_at is before start_at")
            next_start = upd.start_at if upd.start_at is not None else row["next_start"]
            run_times = upd.run_times if upd.run_times is not None else row["run_times"]
            over = run_times is not None and int(row["run_count"]) >= run_times
            c.execute(_UPDATE_SCHEDULE, _update_values(upd, start, end, now, sid))
            if over:
                c.execute(
                    "UPDATE schedules SET status='complete', next_start=NULL, msg=? WHERE id=?",
                    (RAN_MAX_TIMES, sid),
                )
            else:
                c.execute("UPDATE schedules SET next_start=? WHERE id=?", (next_start, sid))

    def fire_due(self, now: float) -> int:
        """Queue one task for every schedule whose next_start has come; returns how many."""
        due = self._db.all(
            "SELECT * FROM schedules WHERE status='scheduled' AND next_start<=?", (now,)
        )
        return sum(self._fire(s, now) for s in due)

    def _fire(self, s: Row, now: float) -> bool:
        """One run of ``s`` at ``now``: queue its task and move it on. True if a task queued."""
        # The run would happen now: past end_at it is not due any more, even when its
        # next_start was before end_at (the engine was down over the end of the window).
        if s["end_at"] is not None and max(now, s["next_start"]) > s["end_at"]:
            self._finish(s["id"], REACHED_END_AT, now)
            return False
        error: str | None = None
        try:
            self._tasks.queue(s["project_id"], [_task_request(s)], schedule_id=s["id"])
        except StateError as exc:  # e.g. the code was deleted: the schedule says so
            error = str(exc)
        run_count = int(s["run_count"]) + 1
        nxt, done = advance(
            s["next_start"], now, s["run_every"], s["run_times"], run_count, s["end_at"]
        )
        with self._db.tx() as c:
            c.execute(
                "UPDATE schedules SET run_count=?, last_run_time=?, next_start=?, status=?,"
                " msg=COALESCE(?, ?, msg), error_count=error_count+?, updated_at=?"
                " WHERE id=? AND status='scheduled'",
                (
                    run_count,
                    now,
                    nxt,
                    "complete" if done else "scheduled",
                    error,
                    done,
                    int(error is not None),
                    now,
                    s["id"],
                ),
            )
        return error is None

    def _finish(self, sid: str, msg: str, now: float) -> None:
        with self._db.tx() as c:
            c.execute(
                "UPDATE schedules SET status='complete', next_start=NULL, msg=?, updated_at=?"
                " WHERE id=?",
                (msg, now, sid),
            )
