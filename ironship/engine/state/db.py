"""The engine's data folder: SQLite (WAL) for state, content-addressed zips, task logs.

Layout of DATA:
  engine.db      projects, tokens, codes, revisions, tasks, schedules
  blobs/<sha256>.zip   one file per distinct package, written via tmp/ + rename after checks
  logs/<task_id>.log   combined stdout+stderr of a task
  tmp/           uploads in flight; emptied on start (an interrupted upload leaves nothing)
  work/          per-task directories while tasks run
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironship.engine.http.wire import new_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(
    token TEXT NOT NULL, project_id TEXT NOT NULL, PRIMARY KEY(token, project_id));
CREATE TABLE IF NOT EXISTS codes(
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, rev INTEGER NOT NULL,
    latest_revision_id TEXT NOT NULL, paused INTEGER NOT NULL DEFAULT 0,
    UNIQUE(project_id, name));
CREATE TABLE IF NOT EXISTS revisions(
    id TEXT PRIMARY KEY, code_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL,
    rev INTEGER NOT NULL, created_at REAL NOT NULL, checksum TEXT, blob TEXT, code_size INTEGER,
    runtime TEXT, file_name TEXT, stack TEXT, image TEXT, command TEXT, config TEXT,
    env_vars TEXT, max_concurrency INTEGER, retries INTEGER, retries_delay INTEGER,
    priority INTEGER, UNIQUE(code_id, rev));
CREATE TABLE IF NOT EXISTS tasks(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL, code_id TEXT NOT NULL, code_name TEXT NOT NULL,
    revision_id TEXT NOT NULL, code_rev INTEGER NOT NULL, status TEXT NOT NULL, msg TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, start_time REAL, end_time REAL,
    duration INTEGER, percent INTEGER, payload TEXT NOT NULL, priority INTEGER NOT NULL,
    timeout INTEGER NOT NULL, delay INTEGER NOT NULL, run_after REAL NOT NULL,
    cluster TEXT NOT NULL, label TEXT, schedule_id TEXT, retry_task_id TEXT,
    original_task_id TEXT, retry_count INTEGER NOT NULL DEFAULT 0, error_class TEXT,
    exit_code INTEGER, log_size INTEGER);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(status, priority DESC, seq);
CREATE INDEX IF NOT EXISTS tasks_project ON tasks(project_id, created_at);
CREATE TABLE IF NOT EXISTS schedules(
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, code_name TEXT NOT NULL,
    payload TEXT NOT NULL, status TEXT NOT NULL, msg TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, start_at REAL NOT NULL, end_at REAL,
    run_every INTEGER, run_times INTEGER, run_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0, next_start REAL, last_run_time REAL,
    priority INTEGER NOT NULL, timeout INTEGER NOT NULL, task_delay INTEGER NOT NULL,
    cluster TEXT NOT NULL, label TEXT, prio_given INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules(status, next_start);
"""

Row = dict[str, Any]


@dataclass(frozen=True)
class Blob:
    """A stored package: its file name under blobs/, MD5 (the wire checksum) and size."""

    sha256: str
    md5: str
    size: int


def _dict(row: sqlite3.Row | None) -> Row | None:
    return dict(row) if row is not None else None


class Db:
    """One SQLite connection shared by the HTTP and dispatcher threads under a lock."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.blobs_dir = data_dir / "blobs"
        self.logs_dir = data_dir / "logs"
        self.tmp_dir = data_dir / "tmp"
        self.work_dir = data_dir / "work"
        for d in (self.blobs_dir, self.logs_dir, self.tmp_dir, self.work_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            data_dir / "engine.db", check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; BEGIN IMMEDIATE so concurrent writers queue instead of failing."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Row]:
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Row | None:
        with self._lock:
            return _dict(self._conn.execute(sql, params).fetchone())

    # -- projects and tokens ------------------------------------------------------------

    def create_project(self, name: str) -> tuple[str, str]:
        """A new project and a token scoped to it."""
        pid, token = new_id(), secrets.token_hex(16)
        with self.tx() as c:
            c.execute("INSERT INTO projects VALUES (?, ?, ?)", (pid, name, time.time()))
            c.execute("INSERT INTO tokens VALUES (?, ?)", (token, pid))
        return pid, token

    def default_project(self) -> tuple[str, str]:
        """The data folder's own project and token, created on first use."""
        with self.tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key='default_project'").fetchone()
            if row is None:
                pid, token = new_id(), secrets.token_hex(16)
                c.execute("INSERT INTO projects VALUES (?, ?, ?)", (pid, "local", time.time()))
                c.execute("INSERT INTO tokens VALUES (?, ?)", (token, pid))
                c.execute("INSERT INTO meta VALUES ('default_project', ?)", (pid,))
                return pid, token
            pid = str(row[0])
            tok = c.execute("SELECT token FROM tokens WHERE project_id=? LIMIT 1", (pid,))
            return pid, str(tok.fetchone()[0])

    def token_known(self, token: str) -> bool:
        return self.one("SELECT 1 AS x FROM tokens WHERE token=?", (token,)) is not None

    def project_for(self, token: str, pid: str) -> Row | None:
        """The project ``pid`` if ``token`` may use it (else None: invisible, 404)."""
        return self.one(
            "SELECT p.* FROM projects p JOIN tokens t ON t.project_id = p.id "
            "WHERE t.token=? AND p.id=?",
            (token, pid),
        )

    # -- blobs and logs -----------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        return self.blobs_dir / f"{sha256}.zip"

    def log_path(self, task_id: str) -> Path:
        return self.logs_dir / f"{task_id}.log"

    def clean_leftovers(self) -> None:
        """Remove uploads that never finished and blobs no revision refers to."""
        for d in (self.tmp_dir, self.work_dir):
            for p in d.iterdir():
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        used = {r["blob"] for r in self.all("SELECT DISTINCT blob FROM revisions")}
        for p in self.blobs_dir.glob("*.zip"):
            if p.stem not in used:
                p.unlink(missing_ok=True)
