"""Odd input on every endpoint: always a 4xx with a JSON msg (or a 200), never a 500.

Runs in a project of its own whose code queue is paused, so nothing the fuzzing queues runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from engine_helpers import Api, make_zip

from ironship.engine.local import create_project
from ironship.engine.server import EngineServer

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e308,
    10**40,
    -(10**40),
    "",
    "abc",
    "１２",
    [],
    [1],
    {},
    {"a": 1},
]
TASK_FIELDS = ("code_name", "payload", "priority", "timeout", "delay", "cluster", "label", "sync")
SCHEDULE_FIELDS = (
    "code_name",
    "payload",
    "start_at",
    "end_at",
    "run_every",
    "run_times",
    "priority",
    "timeout",
    "delay",
    "task_delay",
    "cluster",
    "label",
)
ODD_TIMES = ["2020-13-45", "2999-01-01T00:00:00+25:00", "9999-12-31T23:59:59Z", "1969-01-01"]
JSON = {"Content-Type": "application/json"}
FAR = "2999-01-01T00:00:00Z"


def assert_wire_ok(r: requests.Response, what: object) -> None:
    """200, or 4xx with a JSON msg; always a Content-Type; never 202/204/5xx."""
    assert r.status_code == 200 or 400 <= r.status_code < 500, (what, r.status_code, r.text)
    assert r.headers.get("content-type"), (what, "no Content-Type")
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/json", what
        body = r.json()
        assert isinstance(body, dict) and isinstance(body.get("msg"), str) and body["msg"], what


@pytest.fixture(scope="module")
def fz(engine: EngineServer) -> Iterator[Api]:
    """A project with a paused code 'x': fuzzing queues tasks, none of them runs."""
    pid, token = create_project(engine.data_dir, "fuzz")
    api = Api(engine.url, pid, token)
    code_id = api.upload("x")
    api.ok("POST", f"/codes/{code_id}/pause_task_queue")
    yield api
    api.ok("POST", f"/codes/{code_id}/cancel_all")


@pytest.fixture(scope="module")
def queued(fz: Api) -> str:
    """A queued task of the fuzz project."""
    return fz.queue("x")


def test_every_task_field_with_odd_values(fz: Api) -> None:
    """Queueing with any odd value in any field is a 200 or a 4xx with msg, and stays readable."""
    for field in TASK_FIELDS:
        for value in ODD_VALUES:
            task = {"code_name": "x", "payload": "{}", field: value}
            r = fz.call("POST", "/tasks", data=json.dumps({"tasks": [task]}), headers=JSON)
            assert_wire_ok(r, (field, value))
            if r.status_code == 200:
                assert_wire_ok(fz.call("GET", f"/tasks/{r.json()['tasks'][0]['id']}"), field)
    for value in ODD_VALUES:
        for body in ({"tasks": value}, {"tasks": [value]}):
            assert_wire_ok(fz.call("POST", "/tasks", json=body), body)
    assert_wire_ok(fz.call("GET", "/tasks", params={"per_page": 100}), "list")


def test_every_schedule_field_with_odd_values(fz: Api) -> None:
    """The same for schedules; no accepted schedule can break GET or the list afterwards."""
    for field in SCHEDULE_FIELDS:
        for value in [*ODD_VALUES, *ODD_TIMES]:
            sched = {"code_name": "x", "start_at": FAR, field: value}
            r = fz.call("POST", "/schedules", json={"schedules": [sched]})
            assert_wire_ok(r, (field, value))
            if r.status_code == 200:
                sid = r.json()["schedules"][0]["id"]
                assert_wire_ok(fz.call("GET", f"/schedules/{sid}"), (field, value))
                assert_wire_ok(fz.call("GET", "/schedules"), (field, value))
                fz.ok("POST", f"/schedules/{sid}/cancel")
    for value in ODD_VALUES:
        for body in ({"schedules": value}, {"schedules": [value]}):
            assert_wire_ok(fz.call("POST", "/schedules", json=body), body)


def test_progress_and_retry_with_odd_values(fz: Api, queued: str) -> None:
    """progress and retry bodies with odd values are a 200 or a 4xx with msg."""
    for field in ("percent", "msg"):
        for value in ODD_VALUES:
            r = fz.call("POST", f"/tasks/{queued}/progress", json={field: value})
            assert_wire_ok(r, (field, value))
    for value in ODD_VALUES:
        # The task is queued: retry refuses it (400) after the body was understood.
        assert_wire_ok(fz.call("POST", f"/tasks/{queued}/retry", json={"delay": value}), value)
    assert_wire_ok(fz.call("GET", f"/tasks/{queued}"), "task")


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/tasks", '{"tasks": [{"code_name": "x", "priority": 1e400}]}', "integer"),
        ("/tasks", '{"tasks": [{"code_name": "x", "delay": 100000000000000000000}]}', "range"),
        ("/tasks", '{"tasks": [{"code_name": "x", "timeout": NaN}]}', "integer"),
        ("/tasks", '{"tasks": [{"code_name": "x", "payload": "\\ud800"}]}', "surrogate"),
        ("/tasks", '{"tasks": [{"code_name": "x\\udfff"}]}', "surrogate"),
        ("/schedules", '{"schedules": [{"code_name": "x", "start_at": NaN}]}', "range"),
        ("/schedules", '{"schedules": [{"code_name": "x", "start_at": Infinity}]}', "range"),
        ("/schedules", '{"schedules": [{"code_name": "x", "end_at": 1e308}]}', "range"),
        ("/schedules", '{"schedules": [{"code_name": "x", "start_at": -99999999999}]}', "range"),
        ("/schedules", '{"schedules": [{"code_name": "x", "run_every": 1e308}]}', "run_every"),
        ("/schedules", '{"schedules": [{"code_name": "x", "run_times": 1e40}]}', "range"),
        (
            "/schedules",
            f'{{"schedules": [{{"code_name": "x", "start_at": "{FAR}", '
            '"end_at": "2998-01-01T00:00:00Z"}]}',
            "end_at",
        ),
    ],
)
def test_out_of_range_values_are_400(fz: Api, path: str, body: str, expected: str) -> None:
    """Huge numbers, NaN/Infinity, out-of-range times and lone surrogates are a 400 saying so."""
    r = fz.call("POST", path, data=body, headers=JSON)
    assert r.status_code == 400, r.text
    assert expected in r.json()["msg"]


def test_schedule_payload_over_64k_is_400(fz: Api) -> None:
    """A schedule's payload has the same 64 KB limit as a task's."""
    sched = {"code_name": "x", "start_at": FAR, "payload": "p" * (64 * 1024 + 1)}
    r = fz.call("POST", "/schedules", json={"schedules": [sched]})
    assert r.status_code == 400 and "64 KB" in r.json()["msg"]


def test_go_zero_time_means_unset(fz: Api) -> None:
    """start_at/end_at as Go's zero time (however written) are unset, not year 1."""
    sched = {"code_name": "x", "start_at": FAR, "end_at": "0001-01-01T00:00:00+00:00"}
    sid = fz.ok("POST", "/schedules", json={"schedules": [sched]})["schedules"][0]["id"]
    got = fz.ok("GET", f"/schedules/{sid}")
    assert got["end_at"] == "0001-01-01T00:00:00Z" and got["status"] == "scheduled"
    fz.ok("POST", f"/schedules/{sid}/cancel")


@pytest.mark.parametrize("path", ["/tasks", "/schedules", "/tasks/{task}/retry"])
@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_endpoints_want_a_json_content_type(
    fz: Api, queued: str, path: str, ctype: str | None
) -> None:
    """queue, schedule and retry with a JSON body but no JSON Content-Type are a 406 (docs)."""
    body = {"tasks": [{"code_name": "x"}], "schedules": [{"code_name": "x"}], "delay": 0}
    headers = {"Content-Type": ctype} if ctype else {}
    r = fz.call("POST", path.format(task=queued), data=json.dumps(body), headers=headers)
    assert r.status_code == 406 and "Content-Type" in r.json()["msg"]
    assert r.headers["content-type"] == "application/json"


def test_lenient_content_type_where_clients_omit_it(fz: Api) -> None:
    """cancel and progress without a Content-Type work (PY cancels with none); so does charset."""
    task = fz.queue("x")
    r = fz.call("POST", f"/tasks/{task}/progress", data='{"percent": 5}')
    assert r.status_code == 200, r.text
    assert fz.call("POST", f"/tasks/{task}/cancel", data="{}").status_code == 200
    body = json.dumps({"tasks": [{"code_name": "x"}]})
    r = fz.call(
        "POST", "/tasks", data=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200


BAD_QUERIES = [
    "page=-1",
    "per_page=-1",
    "per_page=0",
    "per_page=101",
    "per_page=abc",
    "page=abc",
    "page=101",
    "page=99999999999999999999999",
    "per_page=1e3",
    "page=%00",
]


@pytest.mark.parametrize("query", BAD_QUERIES)
@pytest.mark.parametrize("path", ["/codes", "/tasks", "/schedules", "/codes/{code}/revisions"])
def test_bad_paging_is_400(fz: Api, path: str, query: str) -> None:
    """Negative, too large or non-numeric page/per_page is a 400 with msg on every list."""
    code_id = fz.ok("GET", "/codes")["codes"][0]["id"]
    r = fz.call("GET", f"{path.format(code=code_id)}?{query}")
    assert r.status_code == 400, (path, query, r.text)
    assert_wire_ok(r, query)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/tasks", "from_time=abc"),
        ("/tasks", "to_time=99999999999999999999999999"),
        ("/tasks", "from_time=1e400"),
        ("/codes/{code}/download", "revision=abc"),
        ("/codes/{code}/download", "revision=99999999999999999999999"),
        ("/codes/{code}/stats", "end_date=99999999999999999999999999"),
        ("/codes/{code}/stats", "start_date=yesterday"),
        ("/tasks/webhook", "code_name=x&delay=99999999999"),
        ("/tasks/webhook", "code_name=x&priority=high"),
    ],
)
def test_bad_numeric_query_params_are_400(fz: Api, path: str, query: str) -> None:
    """Non-numeric or huge numeric query parameters are a 400 with msg."""
    code_id = fz.ok("GET", "/codes")["codes"][0]["id"]
    method = "POST" if "webhook" in path else "GET"
    r = fz.call(method, f"{path.format(code=code_id)}?{query}", data=b"x")
    assert r.status_code == 400, (path, query, r.text)
    assert_wire_ok(r, query)


def test_status_flag_with_odd_value_filters(fz: Api) -> None:
    """A status flag with bytes that are not UTF-8 still just turns the flag on."""
    r = fz.call("GET", "/tasks?complete=%ff&code_name=%ff")
    assert r.status_code == 200 and r.json() == {"tasks": []}


ZIP = make_zip({"worker.py": "print(1)"})
DATA = json.dumps({"name": "mp", "runtime": "python", "file_name": "worker.py"})


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"file": ("c.zip", ZIP)}, "no 'data' part"),
        ({"data": (None, "not json"), "file": ("c.zip", ZIP)}, "invalid JSON"),
        ({"data": (None, "[1, 2]"), "file": ("c.zip", ZIP)}, "must be an object"),
        ({"data": (None, "null")}, "must be an object"),
        ({"data": (None, '{"name": 5}')}, "name must be a string"),
        ({"data": (None, '{"name": "a\\nb"}')}, "printable"),
        ({"data": (None, '{"name": "\\u0000"}')}, "printable"),
        ({"data": (None, '{"name": "x\\ud800"}')}, "surrogate"),
        ({"data": (None, '{"name": "x", "max_concurrency": 1e400}')}, "integer"),
        ({"data": (None, '{"name": "x", "retries_delay": 1e300}')}, "range"),
        ({"data": (None, '{"name": "x", "env_vars": ["A"]}')}, "env_vars"),
        ({"data": (None, DATA), "file": ("c.zip", b"", "application/zip")}, "empty file"),
        ({"data": (None, DATA), "file": (None, "not a file part")}, "file upload"),
        ({f"f{i}": (f"f{i}", b"x") for i in range(6)} | {"data": (None, DATA)}, "files"),
    ],
    ids=[
        "no-data",
        "data-not-json",
        "data-array",
        "data-null",
        "name-type",
        "name-newline",
        "name-nul",
        "name-surrogate",
        "huge-int",
        "huge-float",
        "env-array",
        "empty-file",
        "file-as-field",
        "too-many-files",
    ],
)
def test_bad_multipart_uploads(fz: Api, files: dict[str, Any], expected: str) -> None:
    """Missing parts, bad data JSON, bad names and odd file parts are a 400 with msg."""
    r = fz.call("POST", "/codes", files=files)
    assert r.status_code == 400, r.text
    assert expected in r.json()["msg"] and r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "raw",
    [b"garbage", b'--xx\r\nContent-Disposition: form-data; name="data"\r\n\r\n{"name":'],
    ids=["not-multipart", "unterminated"],
)
@pytest.mark.parametrize("ctype", ["multipart/form-data", "multipart/form-data; boundary=xx"])
def test_broken_multipart_is_400(fz: Api, raw: bytes, ctype: str) -> None:
    """A multipart body that cannot be parsed is a 400 with msg."""
    r = fz.call("POST", "/codes", data=raw, headers={"Content-Type": ctype})
    assert r.status_code == 400 and r.json()["msg"]


def test_data_part_sent_as_a_file_is_accepted(fz: Api) -> None:
    """A client that sends 'data' with a filename (as a file part) still uploads."""
    files = {"data": ("data.json", DATA.encode()), "file": ("c.zip", ZIP)}
    r = fz.call("POST", "/codes", files=files)
    assert r.status_code == 200, r.text


def test_unicode_name_downloads_with_a_safe_header(fz: Api) -> None:
    """A non-ASCII code name downloads with an RFC 6266 filename* header, not a 500."""
    data = {"name": "日本-worker", "runtime": "python", "file_name": "worker.py"}
    code_id = fz.upload_raw(data, ZIP).json()["id"]
    r = fz.call("GET", f"/codes/{code_id}/download")
    assert r.status_code == 200 and r.content == ZIP
    assert "filename*=UTF-8''%E6%97%A5%E6%9C%AC-worker_1.zip" in r.headers["content-disposition"]


@pytest.mark.parametrize("range_header", ["bytes=0-10", "bytes=999999999-", "bytes=abc"])
def test_download_ignores_range(fz: Api, range_header: str) -> None:
    """Range is ignored: always the whole zip with 200 (GO takes only 200/201 as success)."""
    code_id = fz.upload_raw(json.loads(DATA), ZIP).json()["id"]
    r = fz.call("GET", f"/codes/{code_id}/download", headers={"Range": range_header})
    assert r.status_code == 200 and r.content == ZIP
    assert r.headers["content-type"] == "application/zip"


@pytest.mark.parametrize(
    "encoding", ["gzip/deflate", "br;q=abc", "*;q=0", "identity;q=0", "x" * 4000]
)
@pytest.mark.parametrize("path", ["", "/codes", "/tasks", "/schedules"])
def test_go_style_gets(fz: Api, encoding: str, path: str) -> None:
    """GETs with GO's {} body, odd Accept-Encoding and odd Accept answer plain JSON."""
    headers = {"Accept-Encoding": encoding, "Accept": "text/html;q=abc", **JSON}
    r = fz.call("GET", path, data=b"{}", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert "content-encoding" not in r.headers
    assert isinstance(r.json(), dict)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize(
    "path", ["/", "/2", "/2/", "/2/projects", "/2/projects/", "/favicon.ico", "/2/stacks/x"]
)
def test_unknown_routes_any_verb(fz: Api, method: str, path: str) -> None:
    """Outside the API every verb gets a 404 or 405 JSON msg, with a Content-Type."""
    r = requests.request(method, fz.url + path, headers=fz.session.headers, timeout=30)
    assert r.status_code in (404, 405), (method, path, r.status_code)
    assert_wire_ok(r, (method, path))


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "PATCH", "HEAD"])
def test_known_routes_wrong_verb_has_content_type(fz: Api, queued: str, method: str) -> None:
    """A wrong verb on a real route is 405 with Allow and a JSON Content-Type (HEAD too)."""
    r = fz.call(method, f"/tasks/{queued}/cancel")
    assert r.status_code == 405 and r.headers["content-type"] == "application/json"
    assert r.headers["allow"] == "POST"
    if method != "HEAD":
        assert re.search("not allowed", r.json()["msg"])
