"""Every operation in the engine's /openapi.json, fuzzed with requests generated from the
description itself: never a 5xx, always a Content-Type, nothing written outside the data
folder, and the description lists exactly the routes the engine serves.

IRONSHIP_FUZZ_EXAMPLES sets the cases per operation (default 12) for a longer run.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from engine_helpers import Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironship.engine.http.app import operations
from ironship.engine.http.openapi import openapi
from ironship.engine.server import EngineServer

EXAMPLES = int(os.environ.get("IRONSHIP_FUZZ_EXAMPLES", "12"))
DOC = openapi()
OPERATIONS = [(path, method) for path, ops in DOC["paths"].items() for method in ops]
DATA_ENTRIES = {"engine.db", "engine.db-wal", "engine.db-shm", "blobs", "logs", "tmp", "work"}
DATA_ENTRIES |= {"server.json", "engine.lock", "token"}
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
ANY_JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
ODD_INTS = st.sampled_from([-1, 0, 1, 59, 60, 2**31, 2**63, -(2**63), 10**40])


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


GOOD_ZIP = _zip({"worker.py": "print('fuzz')\n"})
ZIPS = st.sampled_from([GOOD_ZIP, GOOD_ZIP[:40], b"", b"PK\x03\x04", b"b'PK\\x03'"]) | st.binary(
    max_size=200
)


def value_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values mostly of the schema's type (with its edge cases), sometimes any JSON."""
    kind = schema.get("type")
    typed: st.SearchStrategy[Any]
    if "enum" in schema:
        typed = st.sampled_from(schema["enum"])
    elif kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        typed = st.integers(min_value=low, max_value=high) | ODD_INTS
    elif kind == "string" and schema.get("format") == "date-time":
        typed = st.datetimes().map(lambda d: d.isoformat() + "Z") | st.text(max_size=30)
    elif kind == "string":
        typed = st.text(max_size=30)
    elif kind == "array":
        typed = st.lists(value_of(schema.get("items", {})), max_size=3)
    elif kind == "object":
        typed = _object_of(schema)
    else:
        typed = ANY_JSON
    return st.one_of(typed, typed, typed, ANY_JSON)


def _object_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not props:
        extra = schema.get("additionalProperties", {})
        return st.dictionaries(st.text(max_size=10), value_of(extra or {}), max_size=3)
    return st.fixed_dictionaries(
        {k: value_of(v) for k, v in props.items() if k in required},
        optional={k: value_of(v) for k, v in props.items() if k not in required},
    )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Target:
    """The engine under fuzz and the ids that exist in it."""

    def __init__(self, eng: EngineServer, ids: dict[str, str]) -> None:
        self.eng = eng
        self.ids = ids
        self.session = requests.Session()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """An engine with one code (print-only worker), a queued task and a far schedule."""
    root = tmp_path_factory.mktemp("fuzz")
    with EngineServer(root / "data", workers=1, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        code_id = api.upload("fuzz", {"worker.py": "print('fuzz')\n"})
        api.ok("POST", f"/codes/{code_id}/pause_task_queue")
        task_id = api.queue("fuzz")
        sched = {"code_name": "fuzz", "start_at": "2999-01-01T00:00:00Z", "run_every": 3600}
        schedule_id = api.ok("POST", "/schedules", json={"schedules": [sched]})["schedules"][0][
            "id"
        ]
        ids = {"pid": eng.project_id, "code_id": code_id, "task_id": task_id}
        yield Target(eng, {**ids, "schedule_id": schedule_id})


def _path_value(target: Target, name: str) -> st.SearchStrategy[str]:
    known = target.ids.get(name, "x")
    return st.sampled_from([known, known, known, "0" * 24]) | st.text(min_size=1, max_size=30)


@st.composite
def request_for(draw: st.DrawFn, target: Target, path: str, method: str) -> dict[str, Any]:
    """A request for one operation: path, query, headers and body drawn from its description."""
    op = DOC["paths"][path][method]
    url, params, headers = path, {}, {}
    for p in op["parameters"]:
        if p["in"] == "path":
            value = draw(_path_value(target, p["name"]))
            url = url.replace("{" + p["name"] + "}", quote(value, safe=""))
        elif draw(st.booleans()):
            value = _as_text(draw(value_of(p["schema"]) | st.text(max_size=20)))
            if p["in"] == "query":
                params[p["name"]] = value
            elif re.fullmatch(r"[!-~][ -~]*", value):  # what HTTP (and requests) can send
                headers[p["name"]] = value
    token = draw(st.sampled_from([target.eng.token] * 8 + ["", "wrong"]))
    if token:
        headers["Authorization"] = f"OAuth {token}"
    req: dict[str, Any] = {
        "method": method.upper(),
        "url": url,
        "params": params,
        "headers": headers,
    }
    body = op.get("requestBody")
    if body is not None and draw(st.integers(0, 9)) > 0:
        _draw_body(draw, body, req)
    return req


def _draw_body(draw: st.DrawFn, body: dict[str, Any], req: dict[str, Any]) -> None:
    media, spec = next(iter(body["content"].items()))
    schema = spec["schema"]
    if media == "multipart/form-data":
        data = draw(value_of(schema["properties"]["data"]))
        files: dict[str, Any] = {"data": (None, _as_text(data))}
        if draw(st.booleans()):
            files["file"] = ("code.zip", draw(ZIPS), "application/zip")
        req["files"] = files
    elif media == "application/json":
        req["data"] = json.dumps(draw(value_of(schema))).encode()
        if draw(st.integers(0, 4)) > 0:
            req["headers"]["Content-Type"] = "application/json"
    else:
        req["data"] = draw(st.text(max_size=200)).encode()


def _outside_data(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if "data" not in p.parts[len(root.parts) :][:1]
    }


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_fuzz(target: Target, path: str, method: str) -> None:
    """Requests drawn from the operation's description never get a 5xx or an answer without a
    Content-Type, and write nothing outside the engine's data folder."""
    root = target.eng.data_dir.parent
    before = _outside_data(root)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        req = data.draw(request_for(target, path, method))
        req["url"] = target.eng.url + req["url"]
        r = target.session.request(timeout=30, **req)
        assert r.status_code < 500, (req, r.status_code, r.text[:500])
        assert r.headers.get("content-type"), (req, "no Content-Type")

    one()
    assert _outside_data(root) == before
    assert {p.name for p in target.eng.data_dir.iterdir()} <= DATA_ENTRIES
    assert requests.get(target.eng.url + "/openapi.json", timeout=30).status_code == 200


def test_description_matches_the_routes(target: Target) -> None:
    """/openapi.json is served without a token and lists exactly the engine's routes and verbs."""
    served = requests.get(target.eng.url + "/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json()["openapi"].startswith("3.")
    assert operations() == set(OPERATIONS)
