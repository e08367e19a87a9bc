"""Code packages and their revisions: upload, read, delete, pause, stats.

A code is a name in a project; every upload (or settings-only update) adds a revision, and
the code points at the latest one. Tasks are bound to the revision that was latest when they
were queued (docs/ironworker-api.md §2 (Code packages)).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ironship.engine.state.db import Db
from ironship.engine.state.folders import Blob
from ironship.engine.state.model import (
    SETTING_KEYS,
    STATUSES,
    CodeSettings,
    NotFound,
    Page,
    Row,
    new_id,
)

CODE_NOT_FOUND = "Code package not found"

_INSERT_REVISION = (
    "INSERT INTO revisions (id, code_id, project_id, name, rev, created_at, checksum, blob,"
    f" code_size, {', '.join(SETTING_KEYS)}) VALUES ({', '.join('?' * (9 + len(SETTING_KEYS)))})"
)


def _setting_values(settings: CodeSettings, keep_from: Row | None) -> list[Any]:
    """The revision's setting columns; with ``keep_from``, unset ones keep that revision's."""
    values: dict[str, Any] = {k: getattr(settings, k) for k in SETTING_KEYS}
    if values["env_vars"] is not None:
        values["env_vars"] = json.dumps(dict(values["env_vars"]), sort_keys=True)
    if keep_from is not None:
        for key in SETTING_KEYS:
            if values[key] is None:
                values[key] = keep_from[key]
    return list(values.values())


def _blob_values(blob: Blob | None, prev: Row | None) -> tuple[Any, Any, Any]:
    """checksum, blob, code_size: the new zip's, else the previous revision's, else none."""
    if blob is not None:
        return blob.md5, blob.sha256, blob.size
    if prev is not None:
        return prev["checksum"], prev["blob"], prev["code_size"]
    return None, None, None


def _latest(c: sqlite3.Connection, pid: str, name: str) -> tuple[Row | None, Row | None]:
    """The code called ``name`` and its latest revision, inside a transaction."""
    code = c.execute("SELECT * FROM codes WHERE project_id=? AND name=?", (pid, name)).fetchone()
    if code is None:
        return None, None
    rev = c.execute("SELECT * FROM revisions WHERE id=?", (code["latest_revision_id"],))
    return dict(code), dict(rev.fetchone())


class CodeRepo:
    """Codes and revisions, always scoped to a project id."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def list_page(self, pid: str, page: Page) -> list[tuple[Row, Row]]:
        """(code, latest revision) pairs, oldest code first."""
        codes = self._db.all(
            "SELECT * FROM codes WHERE project_id=? ORDER BY created_at, id LIMIT ? OFFSET ?",
            (pid, page.limit, page.offset),
        )
        return [(c, self._revision_by_id(c["latest_revision_id"])) for c in codes]

    def _revision_by_id(self, rev_id: str) -> Row:
        row = self._db.one("SELECT * FROM revisions WHERE id=?", (rev_id,))
        assert row is not None, rev_id
        return row

    def get(self, pid: str, code_id: str) -> tuple[Row, Row]:
        """The code and its latest revision; NotFound when it is not in project ``pid``."""
        code = self._db.one("SELECT * FROM codes WHERE project_id=? AND id=?", (pid, code_id))
        if code is None:
            raise NotFound(CODE_NOT_FOUND)
        return code, self._revision_by_id(code["latest_revision_id"])

    def add_revision(self, pid: str, name: str, settings: CodeSettings, blob: Blob | None) -> str:
        """Create the code or add a revision; returns the code id.

        With a zip the settings replace the old ones; a settings-only update (no zip) keeps
        the previous zip and every setting it does not mention.
        """
        now = self._db.now()
        with self._db.tx() as c:
            code, prev = _latest(c, pid, name)
            values = _setting_values(settings, prev if blob is None else None)
            code_id = code["id"] if code else new_id()
            rev = int(code["rev"]) + 1 if code else 1
            rev_id = new_id()
            row = (rev_id, code_id, pid, name, rev, now, *_blob_values(blob, prev), *values)
            c.execute(_INSERT_REVISION, row)
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

    def delete(self, pid: str, code_id: str) -> None:
        """Delete a code and its revisions; its queued tasks are cancelled."""
        now = self._db.now()
        with self._db.tx() as c:
            if not c.execute(
                "DELETE FROM codes WHERE project_id=? AND id=?", (pid, code_id)
            ).rowcount:
                raise NotFound(CODE_NOT_FOUND)
            c.execute("DELETE FROM revisions WHERE code_id=?", (code_id,))
            c.execute(
                "UPDATE tasks SET status='cancelled', msg='code package deleted', end_time=?,"
                " updated_at=? WHERE code_id=? AND status='queued'",
                (now, now, code_id),
            )

    def list_revisions(self, pid: str, code_id: str, page: Page) -> list[Row]:
        """The code's revisions, newest first."""
        self.get(pid, code_id)
        return self._db.all(
            "SELECT * FROM revisions WHERE code_id=? ORDER BY rev DESC LIMIT ? OFFSET ?",
            (code_id, page.limit, page.offset),
        )

    def get_revision(self, pid: str, code_id: str, rev: int | None) -> tuple[Row, Row]:
        """The code and its revision number ``rev`` (None: the latest)."""
        code, latest = self.get(pid, code_id)
        if rev is None:
            return code, latest
        row = self._db.one("SELECT * FROM revisions WHERE code_id=? AND rev=?", (code_id, rev))
        if row is None:
            raise NotFound(f"revision {rev} of this code package not found")
        return code, row

    def set_paused(self, pid: str, code_id: str, paused: bool) -> bool:
        """Pause or resume a code's queue; returns False when it already was."""
        self.get(pid, code_id)
        with self._db.tx() as c:
            n = c.execute(
                "UPDATE codes SET paused=? WHERE id=? AND paused<>?",
                (int(paused), code_id, int(paused)),
            ).rowcount
        return bool(n)

    def stats(self, pid: str, code_id: str, start: float, end: float) -> dict[str, int]:
        """How many of the code's tasks created between ``start`` and ``end`` are in each status."""
        self.get(pid, code_id)
        counts = dict.fromkeys(STATUSES, 0)
        for row in self._db.all(
            "SELECT status, COUNT(*) AS n FROM tasks WHERE code_id=? AND created_at>=? "
            "AND created_at<=? GROUP BY status",
            (code_id, start, end),
        ):
            counts[row["status"]] = int(row["n"])
        return counts

    def cancel_all(self, pid: str, code_id: str) -> list[str]:
        """Cancel every queued or running task of a code; returns the ids that were running."""
        self.get(pid, code_id)
        now = self._db.now()
        with self._db.tx() as c:
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

    def used_blobs(self) -> set[str]:
        """The blob names some revision still refers to."""
        return {r["blob"] for r in self._db.all("SELECT DISTINCT blob FROM revisions")}
