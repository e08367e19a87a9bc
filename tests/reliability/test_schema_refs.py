"""A smoke test's output schema: $ref resolves only inside it; validate reports the rest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cli_support import run_cli, write_tree

from ironship.smoke.expectations import check_output

SEP = "MAGICALSTDOUTSEPARATOR"


class _Counting(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Counting.hits.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def schema_host() -> Iterator[str]:
    """A server on 127.0.0.1 that would serve a schema, and counts every request."""
    _Counting.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def test_validate_reports_each_unresolvable_ref_at_its_place(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    schema_host: str,
) -> None:
    """A missing local $ref and a remote one are located errors; nothing is fetched."""
    manifest = (
        "version: 1\nworkers:\n  w:\n    root: q\n    entry: main.py\n    smoke:\n"
        "      - name: t\n        output:\n          schema:\n"
        "            $defs: {n: {type: integer}}\n"
        "            properties:\n"
        "              a: {$ref: '#/$defs/n'}\n"
        "              b: {$ref: '#/$defs/missing'}\n"
        f"              c: {{$ref: '{schema_host}/s.json'}}\n"
    )
    write_tree(tmp_path, {"ironship.yml": manifest, "q/main.py": "print(1)\n"})
    res = run_cli(["validate"], capsys, monkeypatch, cwd=tmp_path)
    assert res.code == 1
    assert "internal error" not in res.err
    prefix = 'ironship.yml:13:25: workers.w.smoke[0].output.schema.properties.b["$ref"]: $ref'
    assert f"{prefix} '#/$defs/missing' cannot be resolved: nothing in the schema" in res.err
    assert 'ironship.yml:14:25: workers.w.smoke[0].output.schema.properties.c["$ref"]:' in res.err
    assert "points outside the schema" in res.err
    assert ".properties.a[" not in res.err
    assert _Counting.hits == []


def test_checking_output_never_fetches_a_remote_ref(schema_host: str) -> None:
    """A remote $ref met while testing is a failure of that test, not a request nor a crash."""
    log = f'{SEP}{{"a": "x"}}{SEP}\n'
    output = {"schema": {"properties": {"a": {"$ref": f"{schema_host}/s.json"}}}}
    failures = check_output(output, log, SEP)
    assert [f.kind for f in failures] == ["output"]
    assert "cannot be resolved" in failures[0].message
    assert _Counting.hits == []


def test_checking_output_with_a_missing_local_ref_is_a_failure() -> None:
    """A $ref to nothing in the schema fails the test with a message, never an exception."""
    log = f'{SEP}{{"a": 1}}{SEP}\n'
    output = {"schema": {"properties": {"a": {"$ref": "#/$defs/nope"}}}}
    failures = check_output(output, log, SEP)
    assert len(failures) == 1 and "cannot be resolved" in failures[0].message


def test_local_refs_still_check_the_output() -> None:
    """A $ref within the schema resolves and its rule is applied."""
    schema = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    assert check_output({"schema": schema}, f'{SEP}{{"a": 1}}{SEP}\n', SEP) == []
    failures = check_output({"schema": schema}, f'{SEP}{{"a": "x"}}{SEP}\n', SEP)
    assert len(failures) == 1 and "is not of type 'integer'" in failures[0].message
