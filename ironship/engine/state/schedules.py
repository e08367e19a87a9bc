"""Schedules: stored requests that queue tasks at ``start_at`` and then every ``run_every``.

The timing rule is a pure function (``advance``) so it is tested without waiting a minute.
Missed runs (the engine was down) are skipped, not replayed in a burst.
"""

from __future__ import annotations

import time

from ironship.engine.http.parse import ScheduleRequest, TaskRequest
from ironship.engine.http.wire import HttpFailure, new_id
from ironship.engine.state.db import Row
from ironship.engine.state.store import Store, page_bounds

MAX_SCHEDULES = 100  # per project, IRONWORKER_API.md §1 "Limits"


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
        return None, "Ran max times."
    if run_every is None:
        return None, "Ran max times."
    following = next_start + run_every
    if following <= now:
        missed = int((now - following) // run_every) + 1
        following += missed * run_every
    if end_at is not None and following > end_at:
        return None, "Reached end_at."
    return following, None


class ScheduleStore(Store):
    """Schedule CRUD and firing."""

    def create_schedules(self, pid: str, reqs: list[ScheduleRequest]) -> list[str]:
        now = time.time()
        ids: list[str] = []
        with self.tx() as c:
            active = c.execute(
                "SELECT COUNT(*) FROM schedules WHERE project_id=? AND status='scheduled'",
                (pid,),
            ).fetchone()[0]
            if active + len(reqs) > MAX_SCHEDULES:
                raise HttpFailure(403, f"a project can have at most {MAX_SCHEDULES} schedules")
            for req in reqs:
                if not c.execute(
                    "SELECT 1 FROM codes WHERE project_id=? AND name=?", (pid, req.code_name)
                ).fetchone():
                    raise HttpFailure(404, f"code package {req.code_name!r} not found")
                sid = new_id()
                start = req.start_at if req.start_at is not None else now
                c.execute(
                    "INSERT INTO schedules (id, project_id, code_name, payload, status,"
                    " created_at, updated_at, start_at, end_at, run_every, run_times,"
                    " next_start, priority, timeout, task_delay, cluster, label, prio_given)"
                    " VALUES (?, ?, ?, ?, 'scheduled', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ids.append(sid)
        return ids

    def list_schedules(self, pid: str, page: int, per_page: int) -> list[Row]:
        limit, offset = page_bounds(page, per_page)
        return self.all(
            "SELECT * FROM schedules WHERE project_id=? ORDER BY created_at DESC, id"
            " LIMIT ? OFFSET ?",
            (pid, limit, offset),
        )

    def get_schedule(self, pid: str, sid: str) -> Row:
        row = self.one("SELECT * FROM schedules WHERE project_id=? AND id=?", (pid, sid))
        if row is None:
            raise HttpFailure(404, "Schedule not found")
        return row

    def cancel_schedule(self, pid: str, sid: str) -> None:
        self.get_schedule(pid, sid)
        with self.tx() as c:
            c.execute(
                "UPDATE schedules SET status='cancelled', next_start=NULL, updated_at=?"
                " WHERE id=? AND status='scheduled'",
                (time.time(), sid),
            )

    def fire_due_schedules(self, now: float) -> int:
        """Queue one task for every schedule whose next_start has come; returns how many."""
        fired = 0
        due = self.all("SELECT * FROM schedules WHERE status='scheduled' AND next_start<=?", (now,))
        for s in due:
            # The run would happen now: past end_at it is not due any more, even when its
            # next_start was before end_at (the engine was down over the end of the window).
            if s["end_at"] is not None and max(now, s["next_start"]) > s["end_at"]:
                self._finish_schedule(s["id"], "Reached end_at.", now)
                continue
            req = TaskRequest(
                code_name=s["code_name"],
                payload=s["payload"],
                priority=s["priority"] if s["prio_given"] else None,
                timeout=s["timeout"],
                delay=s["task_delay"],
                cluster=s["cluster"],
                label=s["label"],
            )
            error: str | None = None
            try:
                self.queue_tasks(s["project_id"], [req], schedule_id=s["id"])
                fired += 1
            except HttpFailure as exc:
                error = exc.msg
            run_count = int(s["run_count"]) + 1
            nxt, done = advance(
                s["next_start"], now, s["run_every"], s["run_times"], run_count, s["end_at"]
            )
            with self.tx() as c:
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
        return fired

    def _finish_schedule(self, sid: str, msg: str, now: float) -> None:
        with self.tx() as c:
            c.execute(
                "UPDATE schedules SET status='complete', next_start=NULL, msg=?, updated_at=?"
                " WHERE id=?",
                (msg, now, sid),
            )
