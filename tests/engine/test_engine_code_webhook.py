"""POST codes/{id}/webhook: the hosted API's per-code webhook queues a task whose payload is
the raw request body (≤ 64 KB), answering like tasks/webhook."""

from __future__ import annotations

import requests
from engine_helpers import Api

READ_PAYLOAD = "import os\nprint('got:' + open(os.environ['PAYLOAD_FILE']).read())\n"


def _hook(api: Api, code_id: str, body: bytes, **params: str) -> requests.Response:
    return api.session.post(
        f"{api.base}/codes/{code_id}/webhook", params=params, data=body, timeout=30
    )


def test_code_webhook_queues_a_task_with_the_raw_body(api: Api, name: str) -> None:
    """The body, whatever it is, becomes the payload of a task for that code, which runs."""
    code_id = api.upload(name, {"w.py": READ_PAYLOAD}, "w.py")
    r = _hook(api, code_id, b"event=push&ref=main")
    assert r.status_code == 200
    answer = r.json()
    assert answer["msg"] == "Queued up." and len(answer["id"]) == 24
    task = api.wait(answer["id"])
    assert (task["status"], task["code_name"], task["code_id"]) == ("complete", name, code_id)
    assert task["payload"] == "event=push&ref=main"
    assert api.log(task["id"]).strip() == "got:event=push&ref=main"


def test_code_webhook_takes_task_options_from_the_query(api: Api, name: str) -> None:
    """priority, delay and label come from the query; a code_name there cannot redirect it."""
    code_id = api.upload(name)
    r = _hook(api, code_id, b"{}", priority="2", delay="3600", label="hook", code_name="other")
    assert r.status_code == 200, r.text
    task = api.task(r.json()["id"])
    assert (task["priority"], task["delay"], task["label"]) == (2, 3600, "hook")
    assert (task["code_name"], task["status"]) == (name, "queued")
    api.ok("POST", f"/tasks/{task['id']}/cancel")


def test_code_webhook_refuses_a_body_past_64_kb_and_unknown_codes(api: Api, name: str) -> None:
    """A body over 64 KB is a 400 and queues nothing; an unknown code id is a 404."""
    code_id = api.upload(name)
    r = _hook(api, code_id, b"x" * (64 * 1024 + 1))
    assert r.status_code == 400 and "larger than" in r.json()["msg"]
    assert api.ok("GET", "/tasks", params={"code_name": name})["tasks"] == []
    r = _hook(api, "0" * 24, b"{}")
    assert r.status_code == 404 and r.json()["msg"] == "Code package not found"
