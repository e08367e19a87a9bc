"""Wire details clients depend on: tolerant queueing, limits, filters and 4xx errors."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time

import pytest
import requests
from dateutil import parser as dateutil_parser
from engine_helpers import Api, make_zip

from ironship.engine.server import EngineServer

BIG = "x" * (64 * 1024 + 1)


def test_project_and_stacks(api: Api) -> None:
    """GET project returns id and name; /2/stacks lists installed runtimes."""
    assert api.ok("GET", "") == {"id": api.project_id, "name": "local"}
    r = api.session.get(f"{api.url}/2/stacks", timeout=30)
    assert r.status_code == 200 and "python" in r.json()


def test_queue_accepts_what_official_clients_send(api: Api, name: str) -> None:
    """nulls, "", priority -3, timeout 0, sync, name and unknown keys all mean defaults."""
    api.upload(name)
    tasks = [
        {
            "code_name": name,
            "payload": "{}",
            "priority": None,
            "delay": 0,
            "label": None,
            "cluster": None,
            "sync": False,
            "timeout": 3600,
            "name": name,
        },  # PY
        {
            "code_name": name,
            "payload": "{}",
            "priority": -3,
            "timeout": 0,
            "delay": 0,
            "cluster": "",
            "label": "",
            "wait": True,
            "encryption_key": "",
        },  # CLI, RB
        {"code_name": name, "timeout": 5.0},  # GO marshals numbers as floats
    ]
    body = api.ok("POST", "/tasks", json={"tasks": tasks})
    assert body["msg"] == "Queued up" and len(body["tasks"]) == 3
    first, second, third = (api.wait(t["id"]) for t in body["tasks"])
    assert first["status"] == second["status"] == "complete"
    assert first["cluster"] == second["cluster"] == third["cluster"] == "default"
    assert (first["priority"], second["priority"], second["timeout"]) == (0, 0, 3600)
    assert third["timeout"] == 5 and third["payload"] == ""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b'{"tasks": []}', 400),
        (b'{"tasks": [{"payload": "{}"}]}', 400),
        (b'{"tasks": [{"code_name": 5}]}', 400),
        (b'{"tasks": [{"code_name": "nope-not-here"}]}', 404),
        (b'{"tasks": [{"code_name": "x", "priority": "high"}]}', 400),
        (b'{"tasks": [{"code_name": "x", "delay": 9999999}]}', 400),
        (json.dumps({"tasks": [{"code_name": "x", "payload": BIG}]}).encode(), 400),
        (b"\xff\xfe", 400),
    ],
    ids=[
        "bad-json",
        "array",
        "empty",
        "no-code-name",
        "name-type",
        "unknown-code",
        "priority-type",
        "delay-too-long",
        "payload-64k",
        "not-utf8",
    ],
)
def test_bad_queue_requests(api: Api, body: bytes, status: int) -> None:
    """Bad task requests get a 4xx with msg and a JSON Content-Type, never a 500."""
    api.upload("x")
    r = api.call("POST", "/tasks", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json" and r.json()["msg"]


def test_payload_exactly_64k_is_accepted(api: Api, name: str) -> None:
    """A 64 KB payload is within the limit."""
    api.upload(name)
    task_id = api.queue(name, "y" * (64 * 1024 - 2), delay=3600)  # json.dumps adds quotes
    assert len(api.task(task_id)["payload"]) == 64 * 1024
    api.ok("POST", f"/tasks/{task_id}/cancel")


def test_webhook_body_becomes_payload(api: Api, name: str) -> None:
    """POST tasks/webhook queues a task whose payload is the raw body; > 64 KB is a 400."""
    api.upload(name)
    r = api.session.post(
        f"{api.base}/tasks/webhook", params={"code_name": name}, data=b'{"raw": true}', timeout=30
    )
    assert r.status_code == 200 and r.json()["msg"] == "Queued up."
    assert api.wait(r.json()["id"])["payload"] == '{"raw": true}'
    r = api.session.post(
        f"{api.base}/tasks/webhook", params={"code_name": name}, data=BIG.encode(), timeout=30
    )
    assert r.status_code == 400
    r = api.session.post(f"{api.base}/tasks/webhook", data=b"x", timeout=30)
    assert r.status_code == 400 and "code_name" in r.json()["msg"]


def test_task_list_filters(api: Api, name: str) -> None:
    """code_name, status flags (any non-empty value, OR-ed), time range and paging filter."""
    api.upload(name)
    ok_id = api.queue(name)
    bad_id = api.queue(name, {"exit": 1})
    api.wait(ok_id), api.wait(bad_id)

    def ids(**params: object) -> list[str]:
        return [
            t["id"] for t in api.ok("GET", "/tasks", params={"code_name": name, **params})["tasks"]
        ]

    assert set(ids()) == {ok_id, bad_id}
    assert ids(complete=1) == [ok_id]
    assert ids(error="%!d(bool=true)") == [bad_id]  # GO's literal flag value
    assert set(ids(complete="true", error="1")) == {ok_id, bad_id}
    assert ids(complete="") == ids()  # empty means "not set"
    assert ids(from_time=int(time.time()) + 60) == []
    assert len(ids(per_page=1)) == 1 and len(ids(per_page=1, page=1)) == 1
    assert api.call("GET", "/tasks", params={"from_time": "yesterday"}).status_code == 400


def test_code_stats(api: Api, name: str) -> None:
    """stats counts the code's tasks by status."""
    code_id = api.upload(name)
    api.wait(api.queue(name))
    stats = api.ok("GET", f"/codes/{code_id}/stats")
    assert stats["complete"] == 1 and stats["error"] == 0 and stats["queued"] == 0


def test_cancel_all(api: Api, name: str) -> None:
    """cancel_all cancels every queued task of the code."""
    code_id = api.upload(name)
    ids = [api.queue(name, {}, delay=3600) for _ in range(3)]
    assert api.ok("POST", f"/codes/{code_id}/cancel_all", json={})["msg"]
    assert {api.task(t)["status"] for t in ids} == {"cancelled"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nothing"), ("GET", "/codes/abc/nothing"), ("POST", "/tasks/x/y/z")],
)
def test_unknown_endpoint_is_404_json(api: Api, method: str, path: str) -> None:
    """Unknown endpoints are 404 with msg."""
    r = api.call(method, path)
    assert r.status_code == 404 and r.json()["msg"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/codes"), ("DELETE", "/tasks"), ("GET", "/tasks/webhook/x"), ("PATCH", "")],
)
def test_wrong_verb_is_4xx_json(api: Api, method: str, path: str) -> None:
    """A wrong verb gets 405 (or 404) with msg and a JSON Content-Type."""
    r = api.call(method, path)
    assert r.status_code in (404, 405) and r.json()["msg"]
    assert r.headers["content-type"] == "application/json"


def test_unknown_object_ids_are_404(api: Api) -> None:
    """Ids that do not exist (or are not ids at all) are 404, not 500."""
    for path in (
        "/codes/000000000000000000000000",
        "/tasks/nope",
        "/schedules/../x",
        "/tasks/zzz/log",
        "/codes/zzz/revisions",
    ):
        r = api.call("GET", path)
        assert r.status_code == 404, (path, r.status_code)


def test_root_without_api_version_is_404(api: Api) -> None:
    """Paths outside /2/ are 404 JSON."""
    r = requests.get(api.url + "/", timeout=30)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_go_and_node_shaped_requests(api: Api, name: str) -> None:
    """GO's upload (empty strings, null env_vars, trailing newline) and GET-with-body work."""
    data = {
        "name": name,
        "runtime": "python",
        "file_name": "worker.py",
        "stack": "",
        "image": "",
        "command": "",
        "env_vars": None,
        "default_priority": -1000,
        "content_type": "text/plain",
    }
    zip_bytes = make_zip({"worker.py": "print('go')"})
    files = {
        "data": (None, json.dumps(data) + "\n"),
        "file": ("worker.zip", zip_bytes, "application/octet-stream"),
    }
    r = api.call("POST", "/codes", files=files)
    assert r.status_code == 200, r.text
    go_headers = {"Accept-Encoding": "gzip/deflate", "Content-Type": "application/json"}
    code = api.call("GET", f"/codes/{r.json()['id']}", data=b"{}", headers=go_headers)
    assert code.status_code == 200 and "priority" not in code.json()
    assert code.json()["latest_checksum"] == hashlib.md5(zip_bytes).hexdigest()


HEX24 = re.compile(r"^[0-9a-f]{24}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _check_shape(obj: dict[str, object], ids: tuple[str, ...], times: tuple[str, ...]) -> None:
    for key in ids:
        assert isinstance(obj[key], str) and HEX24.match(str(obj[key])), (key, obj[key])
    for key in times:
        value = obj[key]
        assert isinstance(value, str) and RFC3339.match(value), (key, value)
        dateutil_parser.isoparse(value)  # what PY parses latest_change & co. with
    for key, value in obj.items():
        assert not isinstance(value, float), (key, value)  # integers, never 3600.0


def test_every_object_has_wire_types(api: Api, name: str) -> None:
    """Code, revision, task and schedule: 24-hex ids, RFC3339 times, ints, code_rev string."""
    assert HEX24.match(api.project_id)
    r = api.upload_raw(
        {"name": name, "runtime": "python", "file_name": "worker.py", "max_concurrency": 2.0},
        make_zip({"worker.py": "print(1)"}),
    )
    upload = r.json()
    assert HEX24.match(upload["id"]) and upload["msg"] == "Upload successful."
    code = api.ok("GET", f"/codes/{upload['id']}")
    _check_shape(
        code,
        ("id", "project_id", "latest_history_id"),
        ("created_at", "updated_at", "latest_change"),
    )
    assert type(code["rev"]) is int and type(code["max_concurrency"]) is int
    for listed in api.ok("GET", "/codes", params={"per_page": 100})["codes"]:
        _check_shape(listed, ("id", "project_id", "latest_history_id"), ("latest_change",))
    (rev,) = api.ok("GET", f"/codes/{upload['id']}/revisions")["revisions"]
    _check_shape(rev, ("id", "code_id", "project_id"), ("created_at", "updated_at"))
    assert rev["id"] == code["latest_history_id"] and type(rev["code_size"]) is int
    task_id = api.queue(name)
    assert HEX24.match(task_id)
    api.ok("POST", f"/tasks/{task_id}/progress", json={"percent": 50.0, "msg": "half"})
    task = api.wait(task_id)
    _check_shape(
        task,
        ("id", "project_id", "code_id", "code_history_id"),
        ("created_at", "updated_at", "start_time", "end_time"),
    )
    assert task["code_rev"] == "1" and type(task["percent"]) is int
    assert task["code_history_id"] == rev["id"]
    start = "2999-01-01T00:00:00Z"
    body = {"code_name": name, "start_at": start, "run_every": 3600.0, "run_times": 5}
    sid = api.ok("POST", "/schedules", json={"schedules": [body]})["schedules"][0]["id"]
    sched = api.ok("GET", f"/schedules/{sid}")
    _check_shape(
        sched,
        ("id", "project_id"),
        ("created_at", "updated_at", "start_at", "end_at", "next_start", "last_run_time"),
    )
    assert (sched["run_every"], sched["run_times"], sched["run_count"]) == (3600, 5, 0)
    api.ok("POST", f"/schedules/{sid}/cancel")


def test_log_is_text_plain_even_when_json_is_asked_for(api: Api, name: str) -> None:
    """log and outlog answer text/plain whatever Accept says (PY sends application/json)."""
    api.upload(name)
    task_id = api.queue(name, {"print": "plain"})
    api.wait(task_id)
    for path in ("log", "outlog"):
        r = api.call("GET", f"/tasks/{task_id}/{path}", headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.text == "plain\n"
        assert r.headers["content-type"].startswith("text/plain")


def test_to_time_filter(api: Api, name: str) -> None:
    """to_time (epoch seconds) excludes tasks created after it."""
    api.upload(name)
    task_id = api.queue(name, {}, delay=3600)
    params = {"code_name": name}
    assert api.ok("GET", "/tasks", params={**params, "to_time": 1})["tasks"] == []
    later = int(time.time()) + 60
    listed = api.ok("GET", "/tasks", params={**params, "to_time": later})["tasks"]
    assert [t["id"] for t in listed] == [task_id]
    api.ok("POST", f"/tasks/{task_id}/cancel")


def test_accepted_connections_get_tcp_nodelay(engine: EngineServer) -> None:
    """The listening socket is TCP by proto, so asyncio sets TCP_NODELAY on each connection.

    Without it every keep-alive response waits ~40 ms for the client's delayed ACK (headers
    and body are two writes): a 50x slowdown of every client loop.
    """
    server = engine._server
    assert server is not None
    sockets = [s for srv in server.servers for s in srv.sockets]
    assert sockets and all(s.proto == socket.IPPROTO_TCP for s in sockets)
