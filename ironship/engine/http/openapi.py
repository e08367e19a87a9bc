"""The engine's OpenAPI 3.1 description, served at ``/openapi.json`` (no token needed).

Written by hand from the route table (``app.py``) and docs/ironworker-api.md, which says what
each call means; the test suite fuzzes every operation listed here
(tests/engine/test_openapi_fuzz.py) and checks that the list matches the routes.
"""

from __future__ import annotations

from typing import Any

from ironship import __version__

Obj = dict[str, Any]

_INT: Obj = {"type": "integer"}
_STR: Obj = {"type": "string"}
_ERROR: Obj = {
    "description": "refused",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"msg": _STR}, "required": ["msg"]}
        }
    },
}
_OK: Obj = {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}}


def _param(name: str, where: str, schema: Obj, description: str = "") -> Obj:
    p: Obj = {"name": name, "in": where, "schema": schema, "required": where == "path"}
    if description:
        p["description"] = description
    return p


def _id(name: str) -> Obj:
    return _param(name, "path", _STR)


_PAGING = [
    _param("page", "query", {"type": "integer", "minimum": 0, "maximum": 100}),
    _param("per_page", "query", {"type": "integer", "minimum": 1, "maximum": 100}),
]

_TASK: Obj = {
    "type": "object",
    "properties": {
        "code_name": _STR,
        "payload": _STR,
        "priority": {"type": "integer", "enum": [0, 1, 2]},
        "timeout": _INT,
        "delay": _INT,
        "cluster": _STR,
        "label": _STR,
    },
    "required": ["code_name"],
}
_SCHEDULE: Obj = {
    "type": "object",
    "properties": {
        **_TASK["properties"],
        "start_at": {"type": "string", "format": "date-time"},
        "end_at": {"type": "string", "format": "date-time"},
        "run_every": {"type": "integer", "minimum": 60},
        "run_times": {"type": "integer", "minimum": 1},
        "task_delay": _INT,
    },
    "required": ["code_name"],
}
_CODE_DATA: Obj = {
    "type": "object",
    "properties": {
        "name": _STR,
        "runtime": _STR,
        "file_name": _STR,
        "stack": _STR,
        "config": _STR,
        "env_vars": {"type": "object", "additionalProperties": _STR},
        "max_concurrency": _INT,
        "retries": _INT,
        "retries_delay": _INT,
        "default_priority": _INT,
    },
    "required": ["name"],
}


def _json_body(schema: Obj) -> Obj:
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str, params: list[Obj] | None = None, body: Obj | None = None, **extra: Any
) -> Obj:
    op: Obj = {
        "summary": summary,
        "parameters": params or [],
        "responses": {"200": extra.pop("ok", _OK), "4XX": _ERROR},
        **extra,
    }
    if body is not None:
        op["requestBody"] = body
    return op


_LOG_OK: Obj = {
    "description": "the log (206: the part a Range asked for)",
    "content": {"text/plain": {"schema": _STR}},
}
_LOG_PARAMS = [
    _param("offset", "query", {"type": "integer", "minimum": 0}, "first byte to send"),
    _param("Range", "header", _STR, "bytes=N- or bytes=N-M (answered with 206)"),
]
_UPLOAD: Obj = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "data": {**_CODE_DATA, "contentMediaType": "application/json"},
                    "file": {"type": "string", "contentMediaType": "application/zip"},
                },
                "required": ["data"],
            }
        }
    },
}


def _paths() -> Obj:
    code = "/2/projects/{pid}/codes/{code_id}"
    task = "/2/projects/{pid}/tasks/{task_id}"
    sched = "/2/projects/{pid}/schedules/{schedule_id}"
    pid, cid, tid, sid = _id("pid"), _id("code_id"), _id("task_id"), _id("schedule_id")
    filters = [_param(s, "query", _STR) for s in ("code_name", "cluster", "label")]
    times = [_param(t, "query", _INT) for t in ("from_time", "to_time")]
    raw_body = {"required": False, "content": {"text/plain": {"schema": _STR}}}
    return {
        "/2/stacks": {"get": _op("runtimes and stacks this engine runs")},
        "/2/engine": {
            "get": {
                **_op("ironship extension: how tasks are contained (sandbox) and limited"),
                "x-ironship-extension": True,
            }
        },
        "/2/projects/{pid}": {"get": _op("the project", [pid])},
        "/2/projects/{pid}/codes": {
            "get": _op("list code packages", [pid, *_PAGING]),
            "post": _op("upload a code package (a new revision)", [pid], _UPLOAD),
        },
        code: {
            "get": _op("one code package", [pid, cid]),
            "delete": _op("delete a code package", [pid, cid]),
        },
        code + "/revisions": {"get": _op("its revisions", [pid, cid, *_PAGING])},
        code + "/download": {
            "get": _op(
                "a revision's zip",
                [pid, cid, _param("revision", "query", _INT)],
                ok={"description": "the zip", "content": {"application/zip": {"schema": _STR}}},
            )
        },
        code + "/stats": {
            "get": _op(
                "task counts",
                [pid, cid, *[_param(t, "query", _INT) for t in ("start_date", "end_date")]],
            )
        },
        code + "/pause_task_queue": {"post": _op("pause its queue", [pid, cid])},
        code + "/resume_task_queue": {"post": _op("resume its queue", [pid, cid])},
        code + "/cancel_all": {"post": _op("cancel its queued tasks", [pid, cid])},
        code + "/webhook": {
            "post": _op("queue a task with the body as payload", [pid, cid], raw_body)
        },
        "/2/projects/{pid}/tasks": {
            "get": _op(
                "list tasks",
                [
                    pid,
                    *_PAGING,
                    *filters,
                    *times,
                    *[_param(s, "query", _STR) for s in ("queued", "running", "complete", "error")],
                ],
            ),
            "post": _op(
                "queue tasks",
                [pid],
                _json_body(
                    {
                        "type": "object",
                        "properties": {"tasks": {"type": "array", "items": _TASK}},
                        "required": ["tasks"],
                    }
                ),
            ),
        },
        "/2/projects/{pid}/tasks/webhook": {
            "post": _op(
                "queue a task with the body as payload",
                [pid, _param("code_name", "query", _STR)],
                raw_body,
            )
        },
        task: {"get": _op("one task", [pid, tid])},
        task + "/log": {"get": _op("its log", [pid, tid, *_LOG_PARAMS], ok=_LOG_OK)},
        task + "/outlog": {"get": _op("its stdout once finished", [pid, tid], ok=_LOG_OK)},
        task + "/cancel": {"post": _op("cancel it", [pid, tid])},
        task + "/progress": {
            "post": _op(
                "set its progress",
                [pid, tid],
                _json_body({"type": "object", "properties": {"percent": _INT, "msg": _STR}}),
            )
        },
        task + "/retry": {
            "post": _op(
                "queue it again",
                [pid, tid],
                _json_body({"type": "object", "properties": {"delay": _INT}}),
            )
        },
        "/2/projects/{pid}/schedules": {
            "get": _op("list schedules", [pid, *_PAGING]),
            "post": _op(
                "create schedules",
                [pid],
                _json_body(
                    {
                        "type": "object",
                        "properties": {"schedules": {"type": "array", "items": _SCHEDULE}},
                        "required": ["schedules"],
                    }
                ),
            ),
        },
        sched: {
            "get": _op("one schedule", [pid, sid]),
            "put": _op("change a schedule", [pid, sid], _json_body({**_SCHEDULE, "required": []})),
        },
        sched + "/cancel": {"post": _op("cancel a schedule", [pid, sid])},
    }


def openapi() -> Obj:
    """The whole description as a JSON-ready dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ironship engine (IronWorker API v2)",
            "version": __version__,
            "description": "An IronWorker-compatible engine; see docs/ironworker-api.md.",
        },
        "components": {
            "securitySchemes": {
                "oauth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "OAuth TOKEN",
                },
                "query": {"type": "apiKey", "in": "query", "name": "oauth"},
            }
        },
        "security": [{"oauth": []}, {"query": []}],
        "paths": _paths(),
    }
