"""The dispatcher's side of the tasks table: picking, starting and finishing tasks.

The dispatcher (``run/dispatch.py``) decides when; this module records what happened, and
re-queues a failed task per its code's ``retries``, as a new task linked to the failed one
(docs/ironworker-api.md §6 (Worker runtime contract), the outcome).

After a crash, a task left ``running`` may still have processes (descendants its
parent-death signal did not reach, when tasks run without a sandbox): ``recover_running``
kills every process carrying such a task's ``TASK_ID`` (its environment, which each task's
processes inherit) before it marks the task, so a retry never runs beside the old run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from ironship.engine import procs
from ironship.engine.state.db import Db
from ironship.engine.state.model import NotFound, Row
from ironship.engine.state.tasks import TaskRepo

RESTART_MSG = "engine restarted"
_END_ROUNDS = 100  # scans of /proc while ending a crashed engine's leftover task processes
_END_NAP = 0.02


@dataclass(frozen=True)
class Outcome:
    """How a started task ended, as the dispatcher records it."""

    status: str
    msg: str | None
    error_class: str | None
    exit_code: int | None
    duration_ms: int
    log_size: int | None


class RunRepo:
    """Everything the dispatcher reads and writes; not scoped to a project."""

    def __init__(self, db: Db, tasks: TaskRepo) -> None:
        self._db = db
        self._tasks = tasks

    def recover_running(self) -> int:
        """Tasks that were running when the engine stopped become error "engine restarted",
        once no process of theirs is left."""
        rows = self._db.all("SELECT id FROM tasks WHERE status IN ('preparing', 'running')")
        end_leftovers(str(row["id"]) for row in rows)
        now = self._db.now()
        with self._db.tx() as c:
            return c.execute(
                "UPDATE tasks SET status='error', msg=?, error_class='EngineRestarted',"
                " end_time=?, updated_at=?,"
                " duration=CAST((? - COALESCE(start_time, ?)) * 1000 AS INTEGER)"
                " WHERE status IN ('preparing', 'running')",
                (RESTART_MSG, now, now, now, now),
            ).rowcount

    def next_runnable(
        self, now: float, blocked: Collection[str], exclude: Collection[str] = ()
    ) -> Row | None:
        """The queued task to start next: highest priority, then oldest, skipping paused
        codes, codes in ``blocked`` (at their max_concurrency), tasks still delayed and the
        tasks in ``exclude`` (handed to the task host, not started yet)."""
        blocked, exclude = list(blocked), list(exclude)
        not_blocked = f" AND t.code_id NOT IN ({', '.join('?' * len(blocked))})" if blocked else ""
        not_taken = f" AND t.id NOT IN ({', '.join('?' * len(exclude))})" if exclude else ""
        return self._db.one(
            "SELECT t.* FROM tasks t JOIN codes c ON c.id = t.code_id"
            " WHERE t.status='queued' AND t.run_after<=? AND c.paused=0"
            + not_blocked
            + not_taken
            + " ORDER BY t.priority DESC, t.seq LIMIT 1",
            (now, *blocked, *exclude),
        )

    def max_concurrency(self, code_id: str) -> int | None:
        """The code's current limit (its latest revision's setting); None = unlimited."""
        row = self._db.one(
            "SELECT r.max_concurrency FROM codes c JOIN revisions r"
            " ON r.id = c.latest_revision_id WHERE c.id=?",
            (code_id,),
        )
        value = row["max_concurrency"] if row else None
        return int(value) if value and value > 0 else None

    def revision(self, rev_id: str) -> Row | None:
        return self._db.one("SELECT * FROM revisions WHERE id=?", (rev_id,))

    def mark_running(self, task_id: str, now: float) -> bool:
        """queued → running; False when the task was cancelled meanwhile."""
        with self._db.tx() as c:
            return bool(
                c.execute(
                    "UPDATE tasks SET status='running', start_time=?, updated_at=?"
                    " WHERE id=? AND status='queued'",
                    (now, now, task_id),
                ).rowcount
            )

    def finish(self, task_id: str, outcome: Outcome) -> str | None:
        """Record a result; re-queue per the code's ``retries``. Returns the retry's id."""
        now = self._db.now()

        def record(c: sqlite3.Connection) -> None:
            # A task cancelled through the API keeps status and msg; it still gets its numbers.
            # One statement (every right-hand side reads the row as it was before it).
            c.execute(
                "UPDATE tasks SET"
                " status=CASE WHEN status='running' THEN ? ELSE status END,"
                " msg=CASE WHEN status='running' THEN ? ELSE msg END,"
                " error_class=CASE WHEN status='running' THEN ? ELSE error_class END,"
                " end_time=CASE WHEN status='running' THEN ? ELSE end_time END,"
                " exit_code=?, duration=?, log_size=?, updated_at=? WHERE id=?",
                (
                    outcome.status,
                    outcome.msg,
                    outcome.error_class,
                    now,
                    outcome.exit_code,
                    outcome.duration_ms,
                    outcome.log_size,
                    now,
                    task_id,
                ),
            )

        # Retried when the disk is full; raises when it stays full (the dispatcher keeps it).
        self._db.write(record)
        if outcome.status not in ("error", "timeout"):
            return None  # nothing to retry: no read of the row
        task = self._db.one("SELECT * FROM tasks WHERE id=?", (task_id,))
        if task is None or task["status"] not in ("error", "timeout"):
            return None
        rev = self.revision(task["revision_id"])
        retries = int(rev["retries"] or 0) if rev else 0
        if int(task["retry_count"]) >= retries:
            return None
        delay = int(rev["retries_delay"] or 0) if rev else 0
        try:
            return self._tasks.requeue(task, delay)
        except NotFound:
            return None  # the code was deleted meanwhile: nothing to retry

    def fail_unstarted(self, task_id: str, msg: str, error_class: str) -> None:
        """A task that could not even start (no zip, unreadable package): queued (the task
        host starts tasks) or just marked running (in-process) → error."""
        now = self._db.now()
        with self._db.tx() as c:
            c.execute(
                "UPDATE tasks SET status='error', msg=?, error_class=?, end_time=?, duration=0,"
                " updated_at=? WHERE id=? AND status IN ('running', 'queued')",
                (msg, error_class, now, now, task_id),
            )


def end_leftovers(task_ids: Iterable[str]) -> list[int]:
    """SIGKILL every process whose environment holds ``TASK_ID=`` one of ``task_ids``,
    rescanning until none is left (bounded); returns the pids still alive at the end."""
    marks = {b"TASK_ID=" + task_id.encode() for task_id in task_ids}
    left: list[int] = []
    for _ in range(_END_ROUNDS if marks else 0):
        left = procs.marked(marks)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(pid)  # then check again: a reused pid is never signalled
                try:
                    if procs.marked(marks, [pid]):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                finally:
                    os.close(fd)
        time.sleep(_END_NAP)
    return left
