"""The official iron-worker 1.3.8 Python client, unchanged, against the engine."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import FIB_PY, TOOL, Api, fib_upto, make_zip

from ironship.engine.local import create_project
from ironship.engine.server import EngineServer

iron_worker = pytest.importorskip("iron_worker")


@pytest.fixture(scope="module")
def api(engine: EngineServer) -> Api:
    """A project of its own: codes() reads only the first page (30 codes)."""
    pid, token = create_project(engine.data_dir, "official-client")
    return Api(engine.url, pid, token)


@pytest.fixture
def client(api: Api) -> object:
    """An IronWorker client pointed at the engine through its ``cloud`` option."""
    return iron_worker.IronWorker(project_id=api.project_id, token=api.token, cloud=api.url)


def test_official_client_lists_queues_waits_and_reads_log(
    api: Api, client: object, name: str
) -> None:
    """codes(), queue(), wait_for_task() and log() work with the engine."""
    data = {"name": name, "runtime": "python", "file_name": "fib.py"}
    assert api.upload_raw(data, make_zip({"fib.py": FIB_PY})).status_code == 200
    codes = client.codes()  # type: ignore[attr-defined]
    assert name in {c.name for c in codes}
    code = next(c for c in codes if c.name == name)
    assert code.revision == 1 and len(code.id) == 24
    task = client.queue(code_name=name, payload={"max": 100})  # type: ignore[attr-defined]
    assert not task.scheduled
    done = client.wait_for_task(task)  # type: ignore[attr-defined]
    assert done.status == "complete"
    log = client.log(done)  # type: ignore[attr-defined]
    assert json.loads(log.split("MAGICALSTDOUTSEPARATOR")[1]) == fib_upto(100)


def test_official_client_upload_is_repaired(
    client: object, api: Api, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """iron-worker's Python 3 upload (a b'PK...' repr) is decoded and the code runs."""
    worker = tmp_path / "hello.py"
    worker.write_text("print('hello from the official client')\n")
    monkeypatch.chdir(tmp_path)  # it writes <name>.zip into the cwd
    client.upload(str(worker), name=name)  # type: ignore[attr-defined]
    assert not os.path.exists(tmp_path / f"{name}.zip")
    task = client.queue(code_name=name, payload={})  # type: ignore[attr-defined]
    assert client.wait_for_task(task).status == "complete"  # type: ignore[attr-defined]
    assert client.log(task) == "hello from the official client\n"  # type: ignore[attr-defined]


def test_official_client_every_read_and_task_call(
    api: Api, client: object, name: str, tmp_path: Path
) -> None:
    """code(), revisions(), tasks(), task(), log(), stdout(), setProgress(), retry(), cancel()
    all parse our answers (PY needs a Content-Type everywhere and RFC3339 latest_change)."""
    c: Any = client
    data = {"name": name, "runtime": "python", "file_name": "worker.py"}
    code_id = api.upload_raw(data, make_zip({"worker.py": TOOL})).json()["id"]
    api.upload_raw(data, make_zip({"worker.py": TOOL + "\n"}))
    code = c.code(code_id)
    assert (code.name, code.revision) == (name, 2)
    assert isinstance(code.latest_change, datetime)
    revisions = c.revisions(code_id)
    assert [r.revision for r in revisions] == [2, 1] and len(revisions[0].id) == 24

    task = c.queue(code_name=name, payload={"print": "out", "stderr": "err"})
    api.wait(task.id)
    done = c.task(task.id)
    assert done.status == "complete" and not done.scheduled and done.code_rev == "2"
    assert isinstance(done.created_at, datetime) and done.payload == {
        "print": "out",
        "stderr": "err",
    }
    assert c.log(done) == "out\nerr\n" and c.stdout(done) == "out\nerr\n"
    assert c.setProgress(done, 75, "most") == {"msg": "Progress set"}
    assert c.task(done.id).percent == 75
    retried = c.retry(done, delay=0)
    new_id = retried["tasks"][0]["id"]
    assert api.wait(new_id)["original_task_id"] == done.id
    listed = c.tasks(code_name=name)
    assert {t.id for t in listed} == {done.id, new_id}
    assert [t.id for t in c.tasks(code_name=name, error=True)] == []
    assert {t.id for t in c.tasks_by_code_name(name)} == {done.id, new_id}
    recent = c.tasks(code_name=name, from_time=0, to_time=int(time.time()) + 60, complete=True)
    assert {t.id for t in recent} == {done.id, new_id}

    waiting = c.queue(code_name=name, payload={}, delay=3600)
    assert c.cancel(waiting) is True  # no body, no Content-Type
    assert c.task(waiting.id).status == "cancelled"
    assert c.deleteCode(code_id) is True
    assert api.call("GET", f"/codes/{code_id}").status_code == 404


def test_official_client_schedules(api: Api, client: object, name: str) -> None:
    """queue(run_every=...) creates a schedule; task(), tasks(scheduled=True), cancel() on it."""
    c: Any = client
    api.upload(name)
    start = datetime.now() + timedelta(hours=1)  # naive: PY sends it with the local offset
    sched = c.queue(code_name=name, payload={"a": 1}, run_every=3600, start_at=start)
    assert sched.scheduled and len(sched.id) == 24
    got = c.task(sched)
    assert got.scheduled and got.status == "scheduled" and got.run_every == 3600
    assert got.run_count == 0 and got.payload == {"a": 1}
    assert abs((got.next_start - start.astimezone()).total_seconds()) < 1
    assert sched.id in {s.id for s in c.tasks(scheduled=True)}
    assert c.cancel(sched) is True
    assert c.task(sched).status == "cancelled"
