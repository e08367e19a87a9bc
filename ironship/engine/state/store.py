"""Codes, revisions and tasks on top of ``Db``: every read and write the routes need.

Project scoping lives here: every lookup takes the project id, so another project's objects
are simply not found (issue 2 §1 "Auth").
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ironship.engine.http.parse import SETTING_KEYS, TaskRequest
from ironship.engine.http.wire import HttpFailure, new_id
from ironship.engine.state.db import Blob, Db, Row

FINISHED = ("complete", "error", "cancelled", "timeout", "killed")
STATUSES = ("queued", "preparing", "running", *FINISHED)


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """LIMIT/OFFSET for IronWorker paging (page from 0, per_page 1..100)."""
    if page < 0 or page > 100:
        raise HttpFailure(400, "page must be between 0 and 100")
    if not 1 <= per_page <= 100:
        raise HttpFailure(400, "per_page must be between 1 and 100")
    return per_page, page * per_page


class Store(Db):
    """All engine state; methods are safe to call from any thread."""

    # -- codes and revisions -------------------------------------------------------------

    def list_codes(self, pid: str, page: int, per_page: int) -> list[tuple[Row, Row]]:
        limit, offset = page_bounds(page, per_page)
        codes = self.all(
            "SELECT * FROM codes WHERE project_id=? ORDER BY created_at, id LIMIT ? OFFSET ?",
            (pid, limit, offset),
        )
        return [(c, self._revision_by_id(c["latest_revision_id"])) for c in codes]

    def _revision_by_id(self, rev_id: str) -> Row:
        row = self.one("SELECT * FROM revisions WHERE id=?", (rev_id,))
        assert row is not None, rev_id
        return row

    def get_code(self, pid: str, code_id: str) -> tuple[Row, Row]:
        code = self.one("SELECT * FROM codes WHERE project_id=? AND id=?", (pid, code_id))
        if code is None:
            raise HttpFailure(404, "Code package not found")
        return code, self._revision_by_id(code["latest_revision_id"])

    def add_revision(self, pid: str, name: str, settings: dict[str, Any], blob: Blob | None) -> str:
        """Create the code or add a revision; returns the code id.

        With a zip the settings replace the old ones; a settings-only update (no zip) keeps
        the previous zip and every setting it does not mention.
        """
        now = time.time()
        with self.tx() as c:
            code = c.execute(
                "SELECT * FROM codes WHERE project_id=? AND name=?", (pid, name)
            ).fetchone()
            prev = (
                dict(
                    c.execute(
                        "SELECT * FROM revisions WHERE id=?", (code["latest_revision_id"],)
                    ).fetchone()
                )
                if code
                else None
            )
            values = {k: settings.get(k) for k in SETTING_KEYS}
            if values["env_vars"] is not None:
                values["env_vars"] = json.dumps(values["env_vars"], sort_keys=True)
            if blob is None and prev is not None:
                for key in SETTING_KEYS:
                    if values[key] is None:
                        values[key] = prev[key]
                blob_cols = (prev["checksum"], prev["blob"], prev["code_size"])
            elif blob is not None:
                blob_cols = (blob.md5, blob.sha256, blob.size)
            else:
                blob_cols = (None, None, None)
            code_id = code["id"] if code else new_id()
            rev = int(code["rev"]) + 1 if code else 1
            rev_id = new_id()
            c.execute(
                "INSERT INTO revisions (id, code_id, project_id, name, rev, created_at, checksum,"
                " blob, code_size, "
                + ", ".join(SETTING_KEYS)
                + ") VALUES ("
                + ", ".join("?" * (9 + len(SETTING_KEYS)))
                + ")",
                (rev_id, code_id, pid, name, rev, now, *blob_cols, *values.values()),
            )
            if code:
                c.execute(
                    "UPDATE codes SET rev=?, latest_revision_id=?, updated_at=? WHERE id=?",
                    (rev, rev_id, now, code_id),
                )
            else:
                c.execute(
                    "INSERT INTO codes (id, project_id, name, created_at, updated_at, rev,"
                    " latest_revision_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (code_id, pid, name, now, now, rev, rev_id),
                )
        return code_id

    def delete_code(self, pid: str, code_id: str) -> None:
        """Delete a code and its revisions; its queued tasks are cancelled."""
        now = time.time()
        with self.tx() as c:
            if not c.execute(
                "DELETE FROM codes WHERE project_id=? AND id=?", (pid, code_id)
            ).rowcount:
                raise HttpFailure(404, "Code package not found")
            c.execute("DELETE FROM revisions WHERE code_id=?", (code_id,))
            c.execute(
                "UPDATE tasks SET status='cancelled', msg='code package deleted', end_time=?,"
                " updated_at=? WHERE code_id=? AND status='queued'",
                (now, now, code_id),
            )

    def list_revisions(self, pid: str, code_id: str, page: int, per_page: int) -> list[Row]:
        self.get_code(pid, code_id)
        limit, offset = page_bounds(page, per_page)
        return self.all(
            "SELECT * FROM revisions WHERE code_id=? ORDER BY rev DESC LIMIT ? OFFSET ?",
            (code_id, limit, offset),
        )

    def get_revision(self, pid: str, code_id: str, rev: int | None) -> tuple[Row, Row]:
        code, latest = self.get_code(pid, code_id)
        if rev is None:
            return code, latest
        row = self.one("SELECT * FROM revisions WHERE code_id=? AND rev=?", (code_id, rev))
        if row is None:
            raise HttpFailure(404, f"revision {rev} of this code package not found")
        return code, row

    def set_paused(self, pid: str, code_id: str, paused: bool) -> bool:
        """Pause or resume a code's queue; returns False when it already was."""
        self.get_code(pid, code_id)
        with self.tx() as c:
            n = c.execute(
                "UPDATE codes SET paused=? WHERE id=? AND paused<>?",
                (int(paused), code_id, int(paused)),
            ).rowcount
        return bool(n)

    def code_stats(self, pid: str, code_id: str, start: float, end: float) -> dict[str, int]:
        self.get_code(pid, code_id)
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.all(
            "SELECT status, COUNT(*) AS n FROM tasks WHERE code_id=? AND created_at>=? "
            "AND created_at<=? GROUP BY status",
            (code_id, start, end),
        ):
            counts[row["status"]] = int(row["n"])
        return counts

    # -- tasks ---------------------------------------------------------------------------

    def queue_tasks(
        self,
        pid: str,
        requests: Sequence[TaskRequest],
        *,
        schedule_id: str | None = None,
        retry_of: Row | None = None,
    ) -> list[str]:
        """Insert queued tasks bound to each code's latest revision; all or nothing."""
        now = time.time()
        ids: list[str] = []
        with self.tx() as c:
            for req in requests:
                code = c.execute(
                    "SELECT * FROM codes WHERE project_id=? AND name=?", (pid, req.code_name)
                ).fetchone()
                if code is None:
                    raise HttpFailure(404, f"code package {req.code_name!r} not found")
                rev = c.execute(
                    "SELECT rev, priority FROM revisions WHERE id=?", (code["latest_revision_id"],)
                ).fetchone()
                priority = req.priority if req.priority is not None else rev["priority"] or 0
                task_id = new_id()
                original = retry_count = None
                if retry_of is not None:
                    original = retry_of["original_task_id"] or retry_of["id"]
                    retry_count = int(retry_of["retry_count"]) + 1
                c.execute(
                    "INSERT INTO tasks (id, project_id, code_id, code_name, revision_id, code_rev,"
                    " status, created_at, updated_at, payload, priority, timeout, delay,"
                    " run_after, cluster, label, schedule_id, original_task_id, retry_count)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        retry_count or 0,
                    ),
                )
                if retry_of is not None:
                    c.execute(
                        "UPDATE tasks SET retry_task_id=?, updated_at=? WHERE id=?",
                        (task_id, now, retry_of["id"]),
                    )
                ids.append(task_id)
        return ids

    def get_task(self, pid: str, task_id: str) -> Row:
        row = self.one("SELECT * FROM tasks WHERE project_id=? AND id=?", (pid, task_id))
        if row is None:
            raise HttpFailure(404, "Task not found")
        return row

    def list_tasks(
        self,
        pid: str,
        *,
        code_name: str | None,
        statuses: Sequence[str],
        from_time: float | None,
        to_time: float | None,
        cluster: str | None,
        label: str | None,
        page: int,
        per_page: int,
    ) -> list[Row]:
        limit, offset = page_bounds(page, per_page)
        where: list[str] = ["project_id=?"]
        params: list[Any] = [pid]
        for column, value in (("code_name", code_name), ("cluster", cluster), ("label", label)):
            if value:
                where.append(f"{column}=?")
                params.append(value)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if from_time is not None:
            where.append("created_at>=?")
            params.append(from_time)
        if to_time is not None:
            where.append("created_at<=?")
            params.append(to_time)
        sql = f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ? OFFSET ?"
        return self.all(sql, [*params, limit, offset])

    def cancel_task(self, pid: str, task_id: str) -> str:
        """Cancel a queued or running task; returns the status it had."""
        task = self.get_task(pid, task_id)
        status = str(task["status"])
        if status in ("queued", "preparing", "running"):
            now = time.time()
            with self.tx() as c:
                c.execute(
                    "UPDATE tasks SET status='cancelled', msg=COALESCE(msg, 'Cancelled'),"
                    " end_time=?, updated_at=? WHERE id=? AND status=?",
                    (now, now, task_id, status),
                )
        elif status != "cancelled":
            raise HttpFailure(400, f"task is already {status}")
        return status

    def cancel_all(self, pid: str, code_id: str) -> list[str]:
        """Cancel every queued or running task of a code; returns the ids that were running."""
        self.get_code(pid, code_id)
        now = time.time()
        with self.tx() as c:
            running = [
                str(r[0])
                for r in c.execute(
                    "SELECT id FROM tasks WHERE code_id=? AND status IN ('preparing', 'running')",
                    (code_id,),
                )
            ]
            c.execute(
                "UPDATE tasks SET status='cancelled', msg='Cancelled', end_time=?, updated_at=?"
                " WHERE code_id=? AND status IN ('queued', 'preparing', 'running')",
                (now, now, code_id),
            )
        return running

    def set_progress(self, pid: str, task_id: str, percent: int | None, msg: str | None) -> None:
        self.get_task(pid, task_id)
        with self.tx() as c:
            c.execute(
                "UPDATE tasks SET percent=COALESCE(?, percent), msg=COALESCE(?, msg),"
                " updated_at=? WHERE id=?",
                (percent, msg, time.time(), task_id),
            )

    def retry_task(self, pid: str, task_id: str, delay: int) -> str:
        task = self.get_task(pid, task_id)
        if task["status"] not in FINISHED:
            raise HttpFailure(400, f"task is {task['status']}; only finished tasks can be retried")
        req = TaskRequest(
            code_name=task["code_name"],
            payload=task["payload"],
            priority=task["priority"],
            timeout=task["timeout"],
            delay=delay,
            cluster=task["cluster"],
            label=task["label"],
        )
        return self.queue_tasks(pid, [req], schedule_id=task["schedule_id"], retry_of=task)[0]
