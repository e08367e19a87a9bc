"""Reads of the engine's database do not wait behind a write transaction (``state/db.py``):
outside a transaction, while another thread writes, they go through pooled connections of
their own, which under WAL see every committed change at once and never the writer's
uncommitted one; inside a transaction
the writing thread reads its own changes. A finished task reads as finished as soon as its
result is stored, from any thread; a status read while a transaction is open answers
without waiting for it.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from ironship.engine.state.db import Db


def _value(db: Db, key: str) -> str | None:
    row = db.one("SELECT value FROM meta WHERE key=?", (key,))
    return None if row is None else str(row["value"])


def test_a_read_answers_while_another_thread_holds_a_write_transaction(tmp_path: Path) -> None:
    db = Db(tmp_path / "engine.db")
    with db.tx() as c:
        c.execute("INSERT INTO meta(key, value) VALUES ('status', 'running')")
    inside = threading.Event()
    release = threading.Event()
    seen_inside: list[str | None] = []

    def writer() -> None:
        with db.tx() as c:
            c.execute("UPDATE meta SET value='complete' WHERE key='status'")
            seen_inside.append(_value(db, "status"))  # the writer reads its own change
            inside.set()
            release.wait(60)  # only a safety: the reader below releases it

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(60)
        # Before this change the read queued on the writer's lock: the writer waits for this
        # read to release it, so a read that waited would never return (the join below would
        # then time out and the assertions fail).
        during = _value(db, "status")
        rows = db.all("SELECT key FROM meta")
    finally:
        release.set()
        thread.join(60)
    assert not thread.is_alive()
    assert seen_inside == ["complete"]
    assert during == "running"  # the committed state, never the open transaction's
    assert rows == [{"key": "status"}]
    # Those reads went through one pooled connection of their own, which cannot write.
    assert len(db._readers) == 1
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db._readers[0].execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")
    # Committed: every thread's next read sees it (a finished task reads as finished).
    assert _value(db, "status") == "complete"
    other: list[str | None] = []
    reader = threading.Thread(target=lambda: other.append(_value(db, "status")))
    reader.start()
    reader.join(60)
    assert other == ["complete"]
    db.close()


def test_uncontended_reads_use_the_writers_connection_and_close_with_the_db(
    tmp_path: Path,
) -> None:
    db = Db(tmp_path / "engine.db")
    for n in range(20):
        assert db.one("SELECT ? AS n", (n,)) == {"n": n}
    # Nobody writing: no pooled reader was needed (the writer's page cache stays warm).
    assert db._readers == []
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        db.one("SELECT 1")
