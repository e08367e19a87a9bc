"""The API client against the real local engine over HTTP: upload, list, download, run, log."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ironship.engine.server import EngineServer
from ironship.errors import ApiError
from ironship.iron.client import Client, Task
from ironship.iron.wait import wait_for_task

WORKER = """\
import json, os, sys
args = sys.argv[1:]
payload = json.load(open(args[args.index("-payload") + 1]))
print("hello", payload["name"], os.environ.get("GREETING"))
"""


@pytest.fixture
def client(engine: EngineServer) -> Iterator[Client]:
    with Client(engine.url, engine.project_id, engine.token, timeout=10, backoff=0.05) as c:
        yield c


def make_zip(path: Path, source: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.py", source)
        zf.writestr("data/notes.txt", "\r\n--\r\n")
    return path


def wait(client: Client, task_id: str, limit: float = 30.0) -> Task:
    """Poll until the task finishes (a bound on the loop, not a timing assertion)."""
    return wait_for_task(client, task_id, timeout=limit, poll=0.05)


def test_list_stacks_names_the_runtimes_the_engine_can_run(client: Client) -> None:
    """GET /2/stacks answers a sorted list holding at least python and binary."""
    stacks = client.list_stacks()
    assert stacks == sorted(stacks)
    assert {"python", "binary"} <= set(stacks)


def test_upload_list_download_queue_log(client: Client, tmp_path: Path) -> None:
    """A real zip survives upload and download byte for byte, runs, and its log comes back."""
    zip_path = make_zip(tmp_path / "w.zip", WORKER)
    data = {
        "name": "hello",
        "runtime": "python",
        "file_name": "hello.py",
        "env_vars": {"GREETING": "hi", "IRONSHIP_DIGEST": "sha256:abc"},
        "max_concurrency": 2,
    }
    code_id = client.upload_code(data, zip_path)
    code = client.get_code(code_id)
    assert (code.name, code.rev, code.runtime, code.file_name) == ("hello", 1, "python", "hello.py")
    assert code.env_vars["IRONSHIP_DIGEST"] == "sha256:abc"
    assert code.latest_checksum == hashlib.md5(zip_path.read_bytes()).hexdigest()
    assert client.find_code("hello") == code

    client.upload_code({**data, "max_concurrency": 3}, None)  # settings only: a new revision
    revisions = client.list_revisions(code_id)
    assert sorted(r.rev for r in revisions) == [1, 2]
    latest = client.get_code(code_id)
    assert (latest.rev, latest.max_concurrency) == (2, 3)

    dest = client.download_code(code_id, tmp_path / "down" / "w.zip")
    assert dest.read_bytes() == zip_path.read_bytes()
    assert hashlib.md5(dest.read_bytes()).hexdigest() == latest.latest_checksum

    task_id = client.queue_task("hello", json.dumps({"name": "ironship"}))
    task = wait(client, task_id)
    assert task.status == "complete", task.msg
    assert task.code_name == "hello" and task.code_id == code_id
    assert client.get_log(task_id) == "hello ironship hi\n"
    assert task_id in [t.id for t in client.list_tasks("hello")]


def test_engine_errors_arrive_as_api_errors(client: Client) -> None:
    """Unknown ids come back as ApiError carrying the engine's msg."""
    with pytest.raises(ApiError) as info:
        client.get_code("0" * 24)
    assert info.value.status == 404 and info.value.msg
    with pytest.raises(ApiError) as task_info:
        client.get_task("0" * 24)
    assert task_info.value.status == 404


def test_wrong_token_is_401(engine: EngineServer) -> None:
    """The engine rejects a wrong token and the client says so without echoing it."""
    bad = Client(engine.url, engine.project_id, "wrong-token-123456")
    with bad, pytest.raises(ApiError) as info:
        bad.list_codes()
    assert info.value.status == 401
    assert "wrong-token-123456" not in str(info.value)


@pytest.mark.slow
def test_many_codes_paginate(client: Client) -> None:
    """More than one page of codes (105 uploads, a few seconds) are all listed by the engine."""
    for i in range(105):
        client.upload_code({"name": f"page-{i:03d}", "runtime": "sh", "file_name": "x.sh"}, None)
    names = {c.name for c in client.list_codes()}
    assert {f"page-{i:03d}" for i in range(105)} <= names
