"""Restart keeps everything; running tasks become "engine restarted"; half uploads vanish."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from engine_helpers import Api, make_zip, wait_for

from ironship.engine.local import running_server
from ironship.engine.server import EngineServer
from ironship.errors import IronshipError


def test_restart_recovers_running_and_keeps_queued(data_dir: Path, tmp_path: Path) -> None:
    """A task running at stop becomes error "engine restarted"; a queued one runs after start."""
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("w", max_concurrency=1)
        running = api.queue("w", {"print": "started", "sleep": 60})
        queued = api.queue("w", {"print": "after restart"})
        api.wait_status(running, ["running"])
        wait_for(lambda: "started" in api.log(running), "the first task to start")
        assert running_server(data_dir) is not None
    assert running_server(data_dir) is None
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api2 = Api(eng.url, eng.project_id, eng.token)
        assert (eng.project_id, eng.token) == (api.project_id, api.token)
        task = api2.task(running)
        assert (task["status"], task["msg"]) == ("error", "engine restarted")
        assert api2.wait(queued)["status"] == "complete"
        assert api2.log(queued) == "after restart\n"
        assert [c["name"] for c in api2.ok("GET", "/codes")["codes"]] == ["w"]


def test_one_engine_per_data_dir(data_dir: Path) -> None:
    """A second engine on the same data folder is refused with the running one's URL."""
    with EngineServer(data_dir) as eng:
        with pytest.raises(IronshipError, match="already running") as info:
            EngineServer(data_dir).start()
        assert eng.url in str(info.value)


def test_interrupted_upload_leaves_nothing(data_dir: Path) -> None:
    """A client that dies half-way through an upload leaves no code, revision or file."""
    with EngineServer(data_dir) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        body = make_zip({"worker.py": "print(1)", "data.bin": os.urandom(4 * 1024 * 1024)})
        boundary = "XyZ"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'
            + json.dumps({"name": "half", "runtime": "python", "file_name": "worker.py"})
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="c.zip"\r\nContent-Type: application/zip\r\n\r\n'
        ).encode() + body
        total = len(head) + 100
        url = urlsplit(eng.url)
        with socket.create_connection((url.hostname, url.port)) as sock:
            sock.sendall(
                (
                    f"POST /2/projects/{eng.project_id}/codes HTTP/1.1\r\n"
                    f"Host: {url.netloc}\r\nAuthorization: OAuth {eng.token}\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {total}\r\n\r\n"
                ).encode()
                + head[: len(head) // 2]
            )
        assert api.ok("GET", "")["id"] == eng.project_id  # still serving
    # stop() waits for the upload handler to finish: nothing of the upload exists.
    assert list((data_dir / "blobs").iterdir()) == []
    assert list((data_dir / "tmp").iterdir()) == []
    with EngineServer(data_dir) as eng:
        assert Api(eng.url, eng.project_id, eng.token).ok("GET", "/codes")["codes"] == []


def test_start_removes_leftovers(data_dir: Path) -> None:
    """Files from an upload cut off by a crash (tmp/, unreferenced blobs) are removed on start."""
    with EngineServer(data_dir) as eng:
        Api(eng.url, eng.project_id, eng.token).upload("kept")
    kept = list((data_dir / "blobs").iterdir())
    (data_dir / "tmp" / "crash.part").write_bytes(b"half")
    (data_dir / "blobs" / ("0" * 64 + ".zip")).write_bytes(b"orphan")
    with EngineServer(data_dir):
        assert list((data_dir / "tmp").iterdir()) == []
        assert list((data_dir / "blobs").iterdir()) == kept


def test_schedules_carry_on_after_restart(data_dir: Path) -> None:
    """Schedules survive a restart; one that came due while the engine was down fires once
    when it is back (missed runs are skipped, not replayed), then keeps its rhythm."""
    far = "2999-01-01T00:00:00Z"
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("w")
        body = {"code_name": "w", "payload": "{}", "start_at": far, "run_every": 60}
        due, future = (
            api.ok("POST", "/schedules", json={"schedules": [body]})["schedules"][0]["id"]
            for _ in range(2)
        )
    # While the engine is down, three runs of `due` go by.
    down_since = time.time() - 150
    db = sqlite3.connect(data_dir / "engine.db")
    with db:
        db.execute(
            "UPDATE schedules SET start_at=?, next_start=? WHERE id=?",
            (down_since, down_since, due),
        )
    db.close()
    with EngineServer(data_dir, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        wait_for(lambda: api.ok("GET", f"/schedules/{due}")["run_count"] == 1, "the due run")
        sched = api.ok("GET", f"/schedules/{due}")
        assert sched["status"] == "scheduled"
        assert sched["next_start"] > sched["last_run_time"]
        (task,) = api.ok("GET", "/tasks", params={"code_name": "w"})["tasks"]
        assert task["schedule_id"] == due and api.wait(task["id"])["status"] == "complete"
        kept = api.ok("GET", f"/schedules/{future}")
        assert (kept["status"], kept["run_count"]) == ("scheduled", 0)
        assert kept["next_start"].startswith("2999-01-01T00:00:00")
