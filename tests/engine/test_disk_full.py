"""With the data folder's disk full, a state change is retried (the dispatcher's ``Db.write``)
or refused as 503 "disk is full" (an API call), never dropped and never a 500; the database
stays whole and works again once there is room.

The disk is a real 4 MB tmpfs mounted for the test (root only), filled with a file.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import Api

from ironship.engine.server import EngineServer
from ironship.engine.state.db import WRITE_BACKOFF, Db

SIZE = "4m"
BLOCK = b"\0" * 65536


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs at tmp_path/disk, unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no room left; returns it (delete it to free the disk)."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        for _ in range(10_000):  # far more than 4 MB of blocks: the loop ends at ENOSPC
            try:
                fh.write(BLOCK)
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def _rows(db: Db) -> int:
    return len(db.all("SELECT key FROM meta"))


def _insert(value: str) -> object:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (value[:40], value))

    return change


def test_write_is_retried_until_there_is_room(small_disk: Path) -> None:
    """A write that fails for want of room is retried after a pause and lands once room is
    freed; nothing is lost."""
    naps: list[float] = []
    filler_box: list[Path] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        filler_box[0].unlink()  # room comes back during the first pause

    db = Db(small_disk / "engine.db", sleep=nap)
    filler_box.append(fill(small_disk))
    big = "x" * 2_000_000
    db.write(_insert(big))  # type: ignore[arg-type]
    assert naps == [WRITE_BACKOFF[0]]
    assert db.one("SELECT length(value) AS n FROM meta")["n"] == len(big)  # type: ignore[index]
    assert db.one("PRAGMA integrity_check")["integrity_check"] == "ok"  # type: ignore[index]
    db.close()


def test_write_that_never_fits_raises_and_leaves_the_db_usable(small_disk: Path) -> None:
    """After every retry fails the error is raised (never swallowed), the failed transaction
    is rolled back, and the next write works once there is room."""
    naps: list[float] = []
    db = Db(small_disk / "engine.db", sleep=naps.append)
    filler = fill(small_disk)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        db.write(_insert("y" * 2_000_000))  # type: ignore[arg-type]
    assert naps == list(WRITE_BACKOFF)
    filler.unlink()
    db.write(_insert("small"))  # type: ignore[arg-type]
    assert _rows(db) == 1
    assert db.one("PRAGMA integrity_check")["integrity_check"] == "ok"  # type: ignore[index]
    db.close()


def test_api_write_on_a_full_disk_is_503_then_works(small_disk: Path) -> None:
    """Queueing tasks on a full disk answers 503 'disk is full' (which clients retry), not a
    500; after room is freed the same request succeeds and the database is intact."""
    with EngineServer(small_disk / "data", workers=1) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        code_id = api.upload("w")
        api.ok("POST", f"/codes/{code_id}/pause_task_queue")
        body = {"tasks": [{"code_name": "w", "payload": json.dumps({"p": "z" * 60_000})}] * 60}
        filler = fill(small_disk)
        r = api.call("POST", "/tasks", json=body)
        assert r.status_code == 503, r.text
        assert "disk is full" in r.json()["msg"] and "retry later" in r.json()["msg"]
        assert api.ok("GET", "/tasks")["tasks"] == []
        filler.unlink()
        assert len(api.ok("POST", "/tasks", json=body)["tasks"]) == 60
        check = eng._state.db.one("PRAGMA integrity_check")  # type: ignore[union-attr]
        assert check == {"integrity_check": "ok"}
