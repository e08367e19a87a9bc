"""Projects and their tokens: who may use which project.

A token names the projects it may use. A project another token owns is simply not found for
this one, never "forbidden": a caller cannot even learn that another project's ids exist.
"""

from __future__ import annotations

import secrets

from ironship.engine.state.db import Db
from ironship.engine.state.model import NotFound, Row, new_id

DEFAULT_PROJECT_NAME = "local"


class ProjectRepo:
    """Projects, tokens and the data folder's own default project."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def create(self, name: str) -> tuple[str, str]:
        """A new project and a token scoped to it."""
        pid, token = new_id(), secrets.token_hex(16)
        with self._db.tx() as c:
            c.execute("INSERT INTO projects VALUES (?, ?, ?)", (pid, name, self._db.now()))
            c.execute("INSERT INTO tokens VALUES (?, ?)", (token, pid))
        return pid, token

    def default(self) -> tuple[str, str]:
        """The data folder's own project and token, created on first use."""
        with self._db.tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key='default_project'").fetchone()
            if row is None:
                pid, token = new_id(), secrets.token_hex(16)
                c.execute(
                    "INSERT INTO projects VALUES (?, ?, ?)",
                    (pid, DEFAULT_PROJECT_NAME, self._db.now()),
                )
                c.execute("INSERT INTO tokens VALUES (?, ?)", (token, pid))
                c.execute("INSERT INTO meta VALUES ('default_project', ?)", (pid,))
                return pid, token
            pid = str(row[0])
            tok = c.execute("SELECT token FROM tokens WHERE project_id=? LIMIT 1", (pid,))
            return pid, str(tok.fetchone()[0])

    def token_known(self, token: str) -> bool:
        return self._db.one("SELECT 1 AS x FROM tokens WHERE token=?", (token,)) is not None

    def for_token(self, token: str, pid: str) -> Row:
        """The project ``pid`` if ``token`` may use it; NotFound otherwise."""
        row = self._db.one(
            "SELECT p.* FROM projects p JOIN tokens t ON t.project_id = p.id "
            "WHERE t.token=? AND p.id=?",
            (token, pid),
        )
        if row is None:
            raise NotFound("Project not found")
        return row

    def get(self, pid: str) -> Row:
        row = self._db.one("SELECT * FROM projects WHERE id=?", (pid,))
        if row is None:
            raise NotFound("Project not found")
        return row
