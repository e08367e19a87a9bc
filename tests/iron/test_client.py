"""ironship.iron.client against a misbehaving HTTP server (tests/faultserver.py): no mocks."""

from __future__ import annotations

import json
import logging
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultserver import Drop, FaultServer, Reply, Stall, Truncate, codes_handler
from python_multipart import MultipartParser

from ironship import __version__
from ironship.errors import ApiError
from ironship.iron.client import Client, Code, MultipartBody, Revision, Task

TOKEN = "tok-SECRET-5f1e2d3c4b5a69788796a5b4"
PID = "5e0123456789abcdef012345"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
# Bytes that break naive multipart writers: CRLFs, dashes, fake delimiters, a trailing CRLF.
TRICKY = (
    b"PK\x03\x04"
    + bytes(range(256))
    + b"\r\n--\r\n\r\n--ironship-\r\n--x--\r\n"
    + b"\r\n" * 3
    + b"--"
    + b"\r\n"
)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def client(server: FaultServer) -> Iterator[Client]:
    with Client(server.url, PID, TOKEN, retries=3, backoff=0.01, timeout=5) as c:
        yield c


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body with python-multipart (the parser the engine uses)."""
    boundary = content_type.split("boundary=", 1)[1]
    parts: list[tuple[dict[str, str], bytes]] = []
    state: dict[str, Any] = {}

    def on_part_begin() -> None:
        state.update(headers={}, data=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] = data[start:end].decode().lower()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["headers"][state["field"]] = data[start:end].decode()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"] += data[start:end]

    def on_part_end() -> None:
        parts.append((state["headers"], state["data"]))

    callbacks: Any = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    parser.write(body)
    parser.finalize()
    return parts


def expected_body(boundary: str, data: dict[str, Any], content: bytes | None) -> bytes:
    """The multipart body RFC 7578 prescribes, written out by hand."""
    out = f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n'.encode()
    out += json.dumps(data, sort_keys=True).encode() + b"\r\n"
    if content is None:
        return out + f"--{boundary}--\r\n".encode()
    out += f"--{boundary}\r\n".encode()
    out += b'Content-Disposition: form-data; name="file"; filename="worker.zip"\r\n'
    out += b"Content-Type: application/zip\r\n\r\n"
    return out + content + f"\r\n--{boundary}--\r\n".encode()


def test_sends_auth_user_agent_and_accept(server: FaultServer, client: Client) -> None:
    """Every call carries the OAuth header, ironship's User-Agent and Accept: application/json."""
    server.enqueue(Reply(200, {"id": PID, "name": "demo"}))
    assert client.project()["name"] == "demo"
    (req,) = server.requests
    assert req.path == f"/2/projects/{PID}"
    assert req.headers["authorization"] == f"OAuth {TOKEN}"
    assert req.headers["user-agent"] == f"ironship/{__version__}"
    assert req.headers["accept"] == "application/json"


def test_json_bodies_are_typed(server: FaultServer, client: Client) -> None:
    """A queue call sends a JSON body with Content-Type: application/json and returns the id."""
    server.enqueue(Reply(200, {"msg": "Queued up", "tasks": [{"id": "t1"}]}))
    assert client.queue_task("fib", '{"max": 10}', priority=1) == "t1"
    (req,) = server.requests
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"tasks": [{"code_name": "fib", "payload": '{"max": 10}', "priority": 1}]}


def test_path_prefix_is_kept(server: FaultServer) -> None:
    """A base URL with a prefix (PY's ``cloud``) puts ``/2/projects/...`` under that prefix."""
    server.enqueue(Reply(200, {"id": PID}))
    with Client(server.url + "/pfx/", PID, TOKEN) as c:
        c.project()
    assert server.requests[0].path == f"/pfx/2/projects/{PID}"


def test_get_retries_503_then_succeeds(server: FaultServer, client: Client) -> None:
    """Two 503s then a 200: the GET succeeds on the third request."""
    server.enqueue(
        Reply(503, {"msg": "busy"}), Reply(503, {"msg": "busy"}), Reply(200, {"id": "x"})
    )
    assert client.project() == {"id": "x"}
    assert len(server.requests) == 3


def test_429_retry_after_is_honoured_for_post(server: FaultServer, client: Client) -> None:
    """A 429 with Retry-After is retried even for POST (nothing was processed) and then succeeds."""
    slow = Reply(429, {"msg": "slow down"}, headers=(("Retry-After", "1"),))
    server.enqueue(slow, Reply(200, {"tasks": [{"id": "t9"}]}))
    assert client.queue_task("fib", "{}") == "t9"
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


def test_post_502_is_not_retried(server: FaultServer, client: Client) -> None:
    """A gateway 502 on POST may hide a queued task, so it fails at once with a short message."""
    server.enqueue(Reply(502, HTML_502, content_type="text/html"))
    with pytest.raises(ApiError) as info:
        client.queue_task("fib", "{}")
    assert (info.value.status, info.value.msg) == (502, "502 Bad Gateway")
    assert len(server.requests) == 1


def test_get_502_exhausts_retries_then_reports(server: FaultServer, client: Client) -> None:
    """A GET answered 502 every time is tried 1 + retries times, then raises with status 502."""
    server.handler = lambda _req: Reply(502, HTML_502, content_type="text/html")
    with pytest.raises(ApiError) as info:
        client.list_codes()
    assert info.value.status == 502
    assert len(server.requests) == 4


def test_dropped_get_is_retried(server: FaultServer, client: Client) -> None:
    """A connection closed without an answer is retried for an idempotent GET."""
    server.enqueue(Drop(), Reply(200, {"id": "t1", "code_name": "fib", "status": "complete"}))
    assert client.get_task("t1").status == "complete"
    assert len(server.requests) == 2


def test_dropped_post_is_not_retried(server: FaultServer, client: Client) -> None:
    """A POST whose connection drops after sending may have worked: ApiError, no second try."""
    server.enqueue(Drop())
    with pytest.raises(ApiError) as info:
        client.queue_task("fib", "{}")
    assert info.value.status is None
    assert "127.0.0.1" in info.value.msg
    assert len(server.requests) == 1


def test_400_returns_the_server_msg(server: FaultServer, client: Client) -> None:
    """A 400 is not retried and the error carries the server's JSON msg."""
    server.enqueue(Reply(400, {"msg": "priority must be 0, 1 or 2"}))
    with pytest.raises(ApiError) as info:
        client.queue_task("fib", "{}", priority=5)
    err = info.value
    assert (err.method, err.status, err.msg) == ("POST", 400, "priority must be 0, 1 or 2")
    assert err.path == f"/2/projects/{PID}/tasks"
    assert len(server.requests) == 1


def test_error_without_msg_uses_reason_or_body(server: FaultServer, client: Client) -> None:
    """No JSON msg: the reason phrase for a JSON body, the first 200 chars of a text body."""
    server.enqueue(Reply(404, {}), Reply(500, "boom " * 100))
    with pytest.raises(ApiError, match="Not Found"):
        client.get_code("c1")
    with pytest.raises(ApiError) as info:
        client.get_code("c1")
    assert info.value.msg == ("boom " * 100)[:200].strip()


def test_401_has_a_hint(server: FaultServer, client: Client) -> None:
    """A rejected token says where tokens come from."""
    server.enqueue(Reply(401, {"msg": "Invalid token"}))
    with pytest.raises(ApiError) as info:
        client.project()
    assert info.value.hint is not None and "IRON_TOKEN" in info.value.hint


def test_non_json_success_is_an_error(server: FaultServer, client: Client) -> None:
    """A 200 with an HTML page (a captive portal, a wrong host) is reported, not parsed."""
    server.enqueue(Reply(200, "<html><title>Sign in</title></html>", content_type="text/html"))
    with pytest.raises(ApiError, match="expected JSON, got text/html: Sign in"):
        client.project()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_names_host_not_token() -> None:
    """Nobody listening: ApiError with no status, naming host and port, never the token."""
    port = free_port()
    client = Client(f"http://127.0.0.1:{port}", PID, TOKEN, retries=1, backoff=0.01)
    with client, pytest.raises(ApiError) as info:
        client.list_codes()
    err = info.value
    assert err.status is None
    assert f"127.0.0.1:{port}" in err.msg and "refused" in err.msg.lower()
    assert_no_token(err)


def test_read_timeout(server: FaultServer) -> None:
    """A server that never answers trips the read timeout instead of hanging."""
    server.enqueue(Stall(30))
    client = Client(server.url, PID, TOKEN, timeout=0.2, retries=0)
    with client, pytest.raises(ApiError, match=r"no response within 0\.2s"):
        client.project()


def test_list_codes_pages_until_a_short_page(server: FaultServer, client: Client) -> None:
    """250 codes arrive in three pages of per_page=100, in order."""
    codes = [{"id": f"{i:024x}", "name": f"w{i}", "rev": 1} for i in range(250)]
    server.handler = codes_handler(codes)
    listed = client.list_codes()
    assert [c.name for c in listed] == [f"w{i}" for i in range(250)]
    assert [(r.param("page"), r.param("per_page")) for r in server.requests] == [
        ("0", "100"),
        ("1", "100"),
        ("2", "100"),
    ]


def test_list_codes_stops_when_server_ignores_page(server: FaultServer, client: Client) -> None:
    """A server that always returns the first page does not make the client loop forever."""
    first = [{"id": f"{i:024x}", "name": f"w{i}"} for i in range(100)]
    server.handler = lambda _req: Reply(200, {"codes": first})
    assert len(client.list_codes()) == 100
    assert len(server.requests) == 2


def test_find_code(server: FaultServer, client: Client) -> None:
    """find_code returns the code with that name, or None."""
    server.handler = codes_handler([{"id": "a", "name": "fib", "rev": 2}])
    assert client.find_code("fib") == Code(id="a", name="fib", rev=2)
    assert client.find_code("nope") is None


def test_list_stacks_reads_an_array_and_refuses_anything_else(
    server: FaultServer, client: Client
) -> None:
    """GET /2/stacks (no project in the path) gives the names; an object is an ApiError."""
    server.enqueue(Reply(200, ["php", "python", 3]), Reply(200, {"msg": "hi"}))
    assert client.list_stacks() == ["php", "python"]
    assert server.requests[0].path == "/2/stacks"
    with pytest.raises(ApiError, match="expected a JSON array of stack names"):
        client.list_stacks()


def test_domain_values_parse_tolerantly() -> None:
    """Missing keys read as None, env_vars null as {}, code_rev int as str, rev str as int."""
    code = Code.from_json({"id": "c", "name": "n", "rev": "4", "env_vars": None, "priority": 2})
    assert (code.rev, code.env_vars, code.runtime, code.priority) == (4, {}, None, 2)
    assert Code.from_json({"default_priority": 1, "config": {"b": 1}}).priority == 1
    assert Code.from_json({"config": {"b": 1, "a": 2}}).config == '{"a": 2, "b": 1}'
    task = Task.from_json({"id": "t", "code_rev": 3, "status": "running", "duration": 12.0})
    assert (task.code_rev, task.duration, task.code_id, task.finished) == ("3", 12, None, False)
    rev = Revision.from_json({"id": "h", "code_id": "c", "rev": 2, "env_vars": {"A": 1}})
    assert (rev.rev, rev.env_vars, rev.checksum) == (2, {"A": "1"}, None)
    assert code in {code}  # hashable despite the env_vars dict


def test_list_revisions_and_tasks(server: FaultServer, client: Client) -> None:
    """Revisions page like codes; list_tasks sends filters and status flags."""
    server.enqueue(
        Reply(200, {"revisions": [{"id": "h1", "code_id": "c", "rev": 1, "checksum": "ab"}]}),
        Reply(200, {"tasks": [{"id": "t1", "code_name": "fib", "status": "error"}]}),
    )
    assert client.list_revisions("c")[0].checksum == "ab"
    tasks = client.list_tasks("fib", statuses=("error", "timeout"), per_page=5)
    assert tasks[0].finished
    req = server.requests[1]
    assert req.param("code_name") == "fib" and req.param("per_page") == "5"
    assert req.param("error") == "1" and req.param("timeout") == "1"


def test_get_log(server: FaultServer, client: Client) -> None:
    """A log is decoded as UTF-8; 404 "log" means not yet (None); another 404 raises."""
    server.enqueue(
        Reply(200, "héllo\n".encode(), content_type="text/plain"),
        Reply(404, {"msg": "Log not found"}),
        Reply(404, {"msg": "Task not found"}),
    )
    assert client.get_log("t1") == "héllo\n"
    assert client.get_log("t1") is None
    with pytest.raises(ApiError, match="Task not found"):
        client.get_log("t1")


def test_cancel_pause_resume_delete(server: FaultServer, client: Client) -> None:
    """The small verbs hit the documented paths with the documented methods."""
    server.handler = lambda _req: Reply(200, {"msg": "ok"})
    client.cancel_task("t1")
    client.pause_queue("c1")
    client.resume_queue("c1")
    client.delete_code("c1")
    got = [(r.method, r.path.removeprefix(f"/2/projects/{PID}/")) for r in server.requests]
    assert got == [
        ("POST", "tasks/t1/cancel"),
        ("POST", "codes/c1/pause_task_queue"),
        ("POST", "codes/c1/resume_task_queue"),
        ("DELETE", "codes/c1"),
    ]


def test_queue_tasks_wants_string_payloads(client: Client) -> None:
    """A dict payload is a programming error caught before any request."""
    with pytest.raises(TypeError):
        client.queue_tasks([{"code_name": "fib", "payload": {"max": 1}}])


@pytest.mark.parametrize("content", [TRICKY, b"", TRICKY * 3000], ids=["tricky", "empty", "big"])
def test_upload_multipart_is_byte_exact(
    server: FaultServer, client: Client, tmp_path: Path, content: bytes
) -> None:
    """The upload body is exactly RFC 7578, with a known length, and python-multipart agrees."""
    zip_path = tmp_path / "w.zip"
    zip_path.write_bytes(content)
    data = {"name": "fib", "runtime": "python", "file_name": "fib.py", "env_vars": {"K": "é"}}
    server.enqueue(Reply(200, {"id": "c" * 24, "msg": "Upload successful."}))
    assert client.upload_code(data, zip_path) == "c" * 24
    (req,) = server.requests
    ctype = req.headers["content-type"]
    boundary = ctype.removeprefix("multipart/form-data; boundary=")
    assert req.body == expected_body(boundary, data, content)
    assert req.headers["content-length"] == str(len(req.body))
    assert "transfer-encoding" not in req.headers
    (data_headers, data_part), (file_headers, file_part) = parse_multipart(ctype, req.body)
    assert json.loads(data_part) == data
    assert data_headers == {"content-disposition": 'form-data; name="data"'}
    assert file_part == content
    assert 'filename="worker.zip"' in file_headers["content-disposition"]
    assert file_headers["content-type"] == "application/zip"


def test_upload_without_file_sends_only_data(server: FaultServer, client: Client) -> None:
    """A settings-only update is a multipart body with just the data part."""
    server.enqueue(Reply(200, {"id": "c1"}))
    client.upload_code({"name": "fib", "max_concurrency": 5}, None)
    (req,) = server.requests
    boundary = req.headers["content-type"].split("boundary=")[1]
    assert req.body == expected_body(boundary, {"name": "fib", "max_concurrency": 5}, None)


def test_upload_retried_after_503_resends_the_same_body(
    server: FaultServer, client: Client, tmp_path: Path
) -> None:
    """urllib3 rewinds the streamed body on retry: both attempts carry identical bytes."""
    zip_path = tmp_path / "w.zip"
    zip_path.write_bytes(TRICKY * 10)
    server.enqueue(Reply(503, {"msg": "busy"}), Reply(200, {"id": "c1"}))
    assert client.upload_code({"name": "fib"}, zip_path) == "c1"
    first, second = server.requests
    assert first.body == second.body and len(first.body) > len(TRICKY * 10)


def test_upload_missing_id_is_an_error(server: FaultServer, client: Client) -> None:
    """An upload answer without ``id`` is reported: callers need the id."""
    server.enqueue(Reply(200, {"msg": "Upload successful."}))
    with pytest.raises(ApiError, match="no code id"):
        client.upload_code({"name": "fib"}, None)


def test_multipart_body_reads_seeks_and_rewinds(tmp_path: Path) -> None:
    """Odd-sized reads, seek and tell give the same bytes as one read (what urllib3 relies on)."""
    zip_path = tmp_path / "w.zip"
    zip_path.write_bytes(TRICKY)
    with MultipartBody({"data": "{}"}, ("file", "worker.zip", "application/zip", zip_path)) as b:
        whole = b.read()
        assert len(whole) == len(b) and b.read(10) == b""
        b.seek(0)
        pieces = iter(lambda: b.read(7), b"")
        assert b"".join(pieces) == whole
        b.seek(len(whole) - 20)
        assert b.tell() == len(whole) - 20 and b.read() == whole[-20:]
        assert b"".join(b.__iter__()) == b""


def test_download_writes_whole_file(server: FaultServer, client: Client, tmp_path: Path) -> None:
    """A download lands at dest with the exact bytes; ``revision`` is passed on."""
    server.enqueue(Reply(200, TRICKY, content_type="application/zip"))
    dest = client.download_code("c1", tmp_path / "out" / "w.zip", revision=3)
    assert dest.read_bytes() == TRICKY
    assert server.requests[0].param("revision") == "3"
    assert server.requests[0].path.endswith("/codes/c1/download")


def test_truncated_download_leaves_nothing(
    server: FaultServer, client: Client, tmp_path: Path
) -> None:
    """A connection cut mid-body raises and leaves neither dest nor a temp file behind."""
    server.enqueue(Truncate(TRICKY[:100], length=len(TRICKY)))
    with pytest.raises(ApiError, match="mid-response"):
        client.download_code("c1", tmp_path / "w.zip")
    assert list(tmp_path.iterdir()) == []


def assert_no_token(*things: object) -> None:
    for thing in things:
        texts = [str(thing), repr(thing)]
        if isinstance(thing, BaseException):
            texts.append("".join(traceback.format_exception(thing)))
            texts.append(str(getattr(thing, "hint", "")))
        for text in texts:
            assert TOKEN not in text


def test_token_never_leaks(
    server: FaultServer, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors (even when the server echoes the token), reprs and debug logs never hold the token."""
    caplog.set_level(logging.DEBUG)
    server.enqueue(
        Reply(401, {"msg": f"bad token {TOKEN}"}),
        Reply(500, f"<p>GET /x?oauth={TOKEN}&a=1</p>", content_type="text/html"),
        Drop(),
    )
    errors: list[ApiError] = []
    for call in (client.project, client.project, lambda: client.queue_task("f", "{}")):
        with pytest.raises(ApiError) as info:
            call()
        errors.append(info.value)
    assert "oauth=***" in errors[1].msg
    assert_no_token(client, *errors)
    assert TOKEN not in caplog.text
    with Client(server.url + f"/?oauth={TOKEN}", PID, TOKEN) as c:
        assert_no_token(c)
