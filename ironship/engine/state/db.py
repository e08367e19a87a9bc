"""The engine's SQLite database: its schema, one writing connection under a lock, pooled readers.

WAL mode, one connection for every write (the HTTP and dispatcher threads take turns under a
lock), write transactions that queue instead of failing. A read outside a write transaction
uses that connection when its lock is free, and otherwise a connection of its own from a small
pool: under WAL a reader sees every committed change and never waits for the writer's lock, so
a status read does not queue behind the dispatcher's transactions (or a checkpoint one of them
runs). The repositories
(``projects``, ``codes``, ``tasks``, ``schedules``, ``runs``) each hold this ``Db`` and do
their reads and writes through it; the clock is injected here so every stored time comes from
one place (docs/architecture.md, Conventions 11).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from ironship.engine.state.model import Row

Clock = Callable[[], float]
Sleep = Callable[[float], None]
T = TypeVar("T")

# Waits between the attempts of a write that failed for want of room (or a lock): about 3 s
# in all, enough for a log rotation or a freed file, bounded so no caller hangs.
WRITE_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
_TRANSIENT = ("database or disk is full", "disk i/o error", "database is locked")


def is_transient(exc: BaseException) -> bool:
    """True for the SQLite failures that can pass (disk full, I/O error, a lock)."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        t in str(exc).lower() for t in _TRANSIENT
    )


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(
    token_hash TEXT NOT NULL, project_id TEXT NOT NULL, PRIMARY KEY(token_hash, project_id));
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


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


class Db:
    """One SQLite connection for writes, shared by the HTTP and dispatcher threads under a
    lock; reads outside a write transaction on pooled connections of their own."""

    def __init__(self, path: Path, clock: Clock = time.time, sleep: Sleep = time.sleep) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self.now = clock
        self.sleep = sleep
        self._lock = threading.RLock()
        self._owner: int | None = None  # the thread inside a write transaction (or scrub)
        self._conn = _connect(path)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        # Idle read connections (list.pop/append are atomic); every one made, for close().
        self._idle: list[sqlite3.Connection] = []
        self._readers: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()  # never the writer's lock: a read never waits on it
        self._closed = False

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def scrub(self) -> None:
        """Rebuild the database file and empty the WAL, so deleted rows leave no bytes behind
        (after removing something secret)."""
        with self._writing():
            self._conn.execute("PRAGMA secure_delete=ON")
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock, self._pool_lock:
            self._closed = True
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._idle.clear()
            self._conn.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writer's lock; reads from this thread meanwhile use the writer's
        connection (they must see the transaction's own changes)."""
        with self._lock:
            outer = self._owner
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                self._owner = outer

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection to read from: the writer's inside this thread's write transaction, or
        when no other thread holds it (its page cache stays warm: a reader's is dropped at
        every commit); else an idle pooled one (a new one when none is idle)."""
        if self._owner == threading.get_ident() or self._closed:
            with self._lock:
                yield self._conn
            return
        if self._lock.acquire(blocking=False):
            try:
                yield self._conn
            finally:
                self._lock.release()
            return
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = _connect(self._path)
            conn.execute("PRAGMA query_only=ON")
            with self._pool_lock:
                if self._closed:
                    conn.close()
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.") from None
                self._readers.append(conn)
        try:
            yield conn
        finally:
            if not self._closed:
                self._idle.append(conn)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; BEGIN IMMEDIATE so concurrent writers queue instead of failing."""
        with self._writing():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (it does on some disk-full errors);
                # a transaction left open would make every later BEGIN fail.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``change`` in a write transaction, again after a pause when SQLite says the disk
        is full (or an I/O error, or a lock), up to ``len(WRITE_BACKOFF)`` more times; the last
        failure is raised, so a caller never believes a change that was not stored."""
        for pause in (*WRITE_BACKOFF, None):
            try:
                with self.tx() as conn:
                    return change(conn)
            except sqlite3.OperationalError as exc:
                if pause is None or not is_transient(exc):
                    raise
            self.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns or raises

    def all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Row]:
        with self._reading() as conn:
            return [dict(r) for r in conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Row | None:
        with self._reading() as conn:
            cursor = conn.execute(sql, params)
            try:
                row = cursor.fetchone()
            finally:
                cursor.close()  # ends the statement: no read transaction left open
            return dict(row) if row is not None else None
