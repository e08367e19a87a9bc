"""Auth on every endpoint: missing or wrong token → 401; another project's objects → 404."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from engine_helpers import Api, make_zip

# (method, path under /2/projects/{pid}); {code}, {task}, {sched} are this project's objects.
ENDPOINTS = [
    ("GET", ""),
    ("GET", "/codes"),
    ("POST", "/codes"),
    ("GET", "/codes/{code}"),
    ("DELETE", "/codes/{code}"),
    ("GET", "/codes/{code}/revisions"),
    ("GET", "/codes/{code}/download"),
    ("GET", "/codes/{code}/stats"),
    ("POST", "/codes/{code}/pause_task_queue"),
    ("POST", "/codes/{code}/resume_task_queue"),
    ("POST", "/codes/{code}/cancel_all"),
    ("POST", "/codes/{code}/webhook"),
    ("GET", "/tasks"),
    ("POST", "/tasks"),
    ("POST", "/tasks/webhook?code_name={name}"),
    ("GET", "/tasks/{task}"),
    ("GET", "/tasks/{task}/log"),
    ("GET", "/tasks/{task}/outlog"),
    ("POST", "/tasks/{task}/cancel"),
    ("POST", "/tasks/{task}/progress"),
    ("POST", "/tasks/{task}/retry"),
    ("GET", "/schedules"),
    ("POST", "/schedules"),
    ("GET", "/schedules/{sched}"),
    ("PUT", "/schedules/{sched}"),
    ("POST", "/schedules/{sched}/cancel"),
]
OBJECT_ENDPOINTS = [e for e in ENDPOINTS if "{" in e[1] and "tasks/webhook" not in e[1]]


@pytest.fixture(scope="module")
def objects(api: Api) -> dict[str, str]:
    """A code, a finished task and a schedule in the engine's own project."""
    name = "auth-target"
    code = api.upload(name, {"worker.py": "print('secret output')"})
    task = api.queue(name)
    api.wait(task)
    sched = api.ok(
        "POST",
        "/schedules",
        json={"schedules": [{"code_name": name, "start_at": "2999-01-01T00:00:00Z"}]},
    )["schedules"][0]["id"]
    return {"code": code, "task": task, "sched": sched, "name": name}


def _body(method: str, path: str, objects: dict[str, str]) -> dict[str, Any]:
    if method == "POST" and path == "/codes":
        return {"files": {"data": (None, '{"name": "x"}'), "file": ("a.zip", make_zip({"a": ""}))}}
    if path == "/tasks" and method == "POST":
        return {"json": {"tasks": [{"code_name": objects["name"]}]}}
    if path == "/schedules" and method == "POST":
        return {"json": {"schedules": [{"code_name": objects["name"]}]}}
    return {"json": {}} if method == "POST" else {}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_bad_token_is_401(
    api: Api, objects: dict[str, str], method: str, path: str, token: str
) -> None:
    """Without a valid token every endpoint answers 401 with msg, and changes nothing."""
    headers = {} if token == "missing" else {"Authorization": "OAuth not-a-token"}
    url = api.base + path.format(**objects)
    r = requests.request(method, url, headers=headers, timeout=30, **_body(method, path, objects))
    assert r.status_code == 401 and r.headers["content-type"] == "application/json"
    assert r.json()["msg"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_other_projects_token_cannot_use_this_project(
    api: Api, other_api: Api, objects: dict[str, str], method: str, path: str
) -> None:
    """A valid token of another project gets 404 on this project's paths."""
    url = api.base + path.format(**objects)
    headers = {"Authorization": f"OAuth {other_api.token}"}
    r = requests.request(method, url, headers=headers, timeout=30, **_body(method, path, objects))
    assert r.status_code == 404 and r.json()["msg"] == "Project not found"


@pytest.mark.parametrize(("method", "path"), OBJECT_ENDPOINTS)
def test_objects_invisible_from_other_project(
    other_api: Api, objects: dict[str, str], method: str, path: str
) -> None:
    """Through its own project path, another project cannot see this one's objects."""
    r = other_api.call(method, path.format(**objects), **_body(method, path, objects))
    assert r.status_code == 404, r.text
    assert "secret output" not in r.text


def test_other_project_lists_are_empty(other_api: Api, objects: dict[str, str]) -> None:
    """Lists in another project do not include this project's codes, tasks or schedules."""
    assert objects["name"] not in {c["name"] for c in other_api.ok("GET", "/codes")["codes"]}
    assert other_api.ok("GET", "/tasks")["tasks"] == []
    assert other_api.ok("GET", "/schedules")["schedules"] == []
    r = other_api.call("POST", "/tasks", json={"tasks": [{"code_name": objects["name"]}]})
    assert r.status_code == 404


def test_oauth_query_parameter(api: Api) -> None:
    """?oauth=TOKEN authenticates without a header (ironcli's project call)."""
    r = requests.get(f"{api.base}?oauth={api.token}", timeout=30)
    assert r.status_code == 200 and r.json() == {"id": api.project_id, "name": "local"}


def test_path_prefix(api: Api) -> None:
    """The API answers behind any path prefix, as PY's cloud=http://host:port/prefix needs."""
    r = api.session.get(f"{api.url}/some/prefix/2/projects/{api.project_id}/codes", timeout=30)
    assert r.status_code == 200 and "codes" in r.json()


@pytest.mark.parametrize("scheme", ["OAuth", "JWT"])
def test_authorization_schemes(api: Api, objects: dict[str, str], scheme: str) -> None:
    """'Authorization: OAuth T' (every client) and 'JWT T' (RB) both authenticate."""
    headers = {"Authorization": f"{scheme} {api.token}"}
    r = requests.get(f"{api.base}/tasks/{objects['task']}", headers=headers, timeout=30)
    assert r.status_code == 200 and r.json()["id"] == objects["task"]


def test_oauth_query_parameter_on_writes(api: Api, objects: dict[str, str]) -> None:
    """?oauth= works on POSTs too (RB's webhook URLs carry it); a wrong one is a 401."""
    url = f"{api.base}/tasks/webhook?code_name={objects['name']}&oauth={api.token}"
    r = requests.post(url, data=b"{}", timeout=30)
    assert r.status_code == 200 and r.json()["msg"] == "Queued up."
    assert api.wait(r.json()["id"])["payload"] == "{}"
    r = requests.post(url.replace(api.token, "nope"), data=b"{}", timeout=30)
    assert r.status_code == 401 and r.json()["msg"]
