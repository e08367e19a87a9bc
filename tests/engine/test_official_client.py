"""The official iron-worker 1.3.8 Python client, unchanged, against the engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from engine_helpers import FIB_PY, Api, fib_upto, make_zip

from ironship.engine.server import EngineServer, create_project

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
