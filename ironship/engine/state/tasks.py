"""Tasks as the API sees them: queue, read, list, cancel, progress and retry.

Every lookup takes the project id, so another project's tasks are simply not found. A task is
bound to its code's latest revision when it is queued (docs/ironworker-api.md §2 (Code
packages), checksums and revisions); the endpoints are §3 (Tasks).
The dispatcher's side (picking, starting, finishing) is ``runs``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ironship.engine.state.db import Db
from ironship.engine.state.model import (
    FINISHED,
    UNFINISHED,
    Conflict,
    NotFound,
    Page,
    Row,
    TaskFilter,
    TaskRequest,
    new_id,
)

_INSERT_TASK = (
    "INSERT INTO tasks (id, project_id, code_id, code_name, revision_id, code_rev,"
    " status, created_at, updated_at, payload, priority, timeout, delay,"
    " run_after, cluster, label, schedule_id, original_task_id, retry_count)"
    " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _where(pid: str, which: TaskFilter) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters for ``which`` in project ``pid``."""
    where: list[str] = ["project_id=?"]
    params: list[Any] = [pid]
    columns = (("code_name", which.code_name), ("cluster", which.cluster), ("label", which.label))
    for column, value in columns:
        if value:
            where.append(f"{column}=?")
            params.append(value)
    if which.statuses:
        where.append(f"status IN ({', '.join('?' * len(which.statuses))})")
        params.extend(which.statuses)
    if which.from_time is not None:
        where.append("created_at>=?")
        params.append(which.from_time)
    if which.to_time is not None:
        where.append("created_at<=?")
        params.append(which.to_time)
    return " AND ".join(where), params


class TaskRepo:
    """Tasks, always scoped to a project id."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def queue(
        self,
        pid: str,
        requests: Sequence[TaskRequest],
        *,
        schedule_id: str | None = None,
        retry_of: Row | None = None,
    ) -> list[str]:
        """Insert queued tasks bound to each code's latest revision; all or nothing."""
        now = self._db.now()
        ids: list[str] = []
        with self._db.tx() as c:
            for req in requests:
                task_id = self._insert(c, pid, req, now, schedule_id, retry_of)
                if retry_of is not None:
                    c.execute(
                        "UPDATE tasks SET retry_task_id=?, updated_at=? WHERE id=?",
                        (task_id, now, retry_of["id"]),
                    )
                ids.append(task_id)
        return ids

    def _insert(
        self,
        c: sqlite3.Connection,
        pid: str,
        req: TaskRequest,
        now: float,
        schedule_id: str | None,
        retry_of: Row | None,
    ) -> str:
        code = c.execute(
            "SELECT * FROM codes WHERE project_id=? AND name=?", (pid, req.code_name)
        ).fetchone()
        if code is None:
            raise NotFound(f"code package {req.code_name!r} not found")
        rev = c.execute(
            "SELECT rev, priority FROM revisions WHERE id=?", (code["latest_revision_id"],)
        ).fetchone()
        priority = req.priority if req.priority is not None else rev["priority"] or 0
        original, retry_count = None, 0
        if retry_of is not None:
            original = retry_of["original_task_id"] or retry_of["id"]
            retry_count = int(retry_of["retry_count"]) + 1
        task_id = new_id()
        c.execute(
            _INSERT_TASK,
            (
                task_id,
                pid,
                code["id"],
                code["name"],
                code["latest_revision_id"],
                rev["rev"],
                now,
                now,
                req.payload,
                priority,
                req.timeout,
                req.delay,
                now + req.delay,
                req.cluster,
                req.label,
                schedule_id,
                original,
                retry_count,
            ),
        )
        return task_id

    def requeue(self, task: Row, delay: int) -> str:
        """Queue ``task`` again after ``delay`` seconds, linked to it as its retry."""
        req = TaskRequest(
            code_name=task["code_name"],
            payload=task["payload"],
            priority=task["priority"],
            timeout=task["timeout"],
            delay=delay,
            cluster=task["cluster"],
            label=task["label"],
        )
        pid, schedule_id = task["project_id"], task["schedule_id"]
        return self.queue(pid, [req], schedule_id=schedule_id, retry_of=task)[0]

    def get(self, pid: str, task_id: str) -> Row:
        row = self._db.one("SELECT * FROM tasks WHERE project_id=? AND id=?", (pid, task_id))
        if row is None:
            raise NotFound("Task not found")
        return row

    def list_page(self, pid: str, which: TaskFilter, page: Page) -> list[Row]:
        """The project's tasks matching ``which``, newest first."""
        where, params = _where(pid, which)
        sql = f"SELECT * FROM tasks WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?"
        return self._db.all(sql, [*params, page.limit, page.offset])

    def cancel(self, pid: str, task_id: str) -> str:
        """Cancel a queued or running task; returns the status it had."""
        task = self.get(pid, task_id)
        status = str(task["status"])
        if status in UNFINISHED:
            now = self._db.now()
            with self._db.tx() as c:
                c.execute(
                    "UPDATE tasks SET status='cancelled', msg=COALESCE(msg, 'Cancelled'),"
                    " end_time=?, updated_at=? WHERE id=? AND status=?",
                    (now, now, task_id, status),
                )
        elif status != "cancelled":
            raise Conflict(f"task is already {status}")
        return status

    def set_progress(self, pid: str, task_id: str, percent: int | None, msg: str | None) -> None:
        """Record a running task's percent and/or msg (None leaves that one as it was)."""
        self.get(pid, task_id)
        with self._db.tx() as c:
            c.execute(
                "UPDATE tasks SET percent=COALESCE(?, percent), msg=COALESCE(?, msg),"
                " updated_at=? WHERE id=?",
                (percent, msg, self._db.now(), task_id),
            )

    def retry(self, pid: str, task_id: str, delay: int) -> str:
        """Queue a finished task again (POST retry); returns the new task's id."""
        task = self.get(pid, task_id)
        if task["status"] not in FINISHED:
            raise Conflict(f"task is {task['status']}; only finished tasks can be retried")
        return self.requeue(task, delay)
