"""Each final status, the log of running and queued tasks, progress and the runner's contract."""

from __future__ import annotations

import json
from pathlib import Path

from engine_helpers import Api, wait_for


def test_complete(api: Api, name: str) -> None:
    """Exit 0 is complete, with the output in the log."""
    api.upload(name)
    task_id = api.queue(name, {"print": "all good"})
    assert api.wait(task_id)["status"] == "complete"
    assert api.log(task_id) == "all good\n"


def test_error_carries_stderr_tail(api: Api, name: str) -> None:
    """A non-zero exit is error; msg holds the stderr tail; the log holds stdout and stderr."""
    api.upload(name)
    task_id = api.queue(name, {"print": "out", "stderr": "it broke", "exit": 3})
    task = api.wait(task_id)
    assert task["status"] == "error"
    assert "it broke" in task["msg"]
    assert task["error_class"] == "Process Exit 3"
    log = api.log(task_id)
    assert "out" in log and "it broke" in log


def test_timeout(api: Api, name: str) -> None:
    """A task past its timeout ends as timeout."""
    api.upload(name)
    task = api.wait(api.queue(name, {"sleep": 30}, timeout=1))
    assert task["status"] == "timeout"
    assert task["timeout"] == 1


def test_cancel_running_task(api: Api, name: str, tmp_path: Path) -> None:
    """Cancelling a running task kills it; its log so far is readable while it runs."""
    api.upload(name)
    task_id = api.queue(name, {"print": "so far", "sleep": 60})
    api.wait_status(task_id, ["running"])
    wait_for(lambda: "so far" in api.log(task_id), "output in the running task's log")
    assert api.task(task_id)["status"] == "running"
    assert api.ok("POST", f"/tasks/{task_id}/cancel") == {"msg": "Cancelled"}
    assert api.wait(task_id)["status"] == "cancelled"


def test_cancel_queued_task_and_its_log(api: Api, name: str) -> None:
    """A queued task has no log yet (404 mentioning "log"); cancelled before running, none ever."""
    api.upload(name)
    task_id = api.queue(name, {}, delay=3600)
    r = api.call("GET", f"/tasks/{task_id}/log")
    assert r.status_code == 404 and "log" in r.json()["msg"]
    api.ok("POST", f"/tasks/{task_id}/cancel")  # no body, no Content-Type, as PY sends it
    assert api.task(task_id)["status"] == "cancelled"
    r = api.call("GET", f"/tasks/{task_id}/log")
    assert r.status_code == 404 and "log" in r.json()["msg"]
    r = api.call("POST", f"/tasks/{task_id}/cancel", json={})
    assert r.status_code == 200


def test_cancel_finished_task_is_refused(api: Api, name: str) -> None:
    """A complete task cannot be cancelled: 400 with msg."""
    api.upload(name)
    task_id = api.queue(name)
    api.wait(task_id)
    r = api.call("POST", f"/tasks/{task_id}/cancel")
    assert r.status_code == 400 and "complete" in r.json()["msg"]


def test_runner_contract(api: Api, name: str) -> None:
    """The worker gets -payload/-config/-id/-d, the env vars, and none of the engine's env."""
    api.upload(name, config=json.dumps({"k": 1}), env_vars={"GREETING": "hi"})
    keys = ["GREETING", "TASK_ID", "PAYLOAD_FILE", "CONFIG_FILE", "TASK_DIR", "VIRTUAL_ENV"]
    task_id = api.queue(name, {"argv": 1, "env": keys})
    api.wait(task_id)
    argv_line, env_line = api.log(task_id).splitlines()[:2]
    argv, env = json.loads(argv_line), json.loads(env_line)
    assert argv[argv.index("-id") + 1] == task_id
    assert "-config" in argv and "-d" in argv and "-payload" in argv
    assert env["GREETING"] == "hi" and env["TASK_ID"] == task_id
    assert env["CONFIG_FILE"] and env["PAYLOAD_FILE"] and env["TASK_DIR"]
    assert env["VIRTUAL_ENV"] is None


def test_progress_sets_percent_and_msg(api: Api, name: str) -> None:
    """POST progress sets the task's percent and msg (RB's remote build reads msg back)."""
    api.upload(name)
    task_id = api.queue(name, {}, delay=3600)
    assert api.ok("POST", f"/tasks/{task_id}/progress", json={"percent": 42, "msg": "half"}) == {
        "msg": "Progress set"
    }
    task = api.task(task_id)
    assert (task["percent"], task["msg"]) == (42, "half")
    api.ok("POST", f"/tasks/{task_id}/cancel")


def test_outlog_after_finish(api: Api, name: str) -> None:
    """outlog is 404 while the task is unfinished and the output once it is."""
    api.upload(name)
    queued = api.queue(name, {}, delay=3600)
    assert api.call("GET", f"/tasks/{queued}/outlog").status_code == 404
    api.ok("POST", f"/tasks/{queued}/cancel")
    task_id = api.queue(name, {"print": "stdout here"})
    api.wait(task_id)
    r = api.call("GET", f"/tasks/{task_id}/outlog")
    assert r.status_code == 200 and r.text == "stdout here\n"


def test_unavailable_runtime_fails_with_clear_msg(api: Api, name: str) -> None:
    """A runtime the engine cannot run fails the task with a msg naming it, also in the log."""
    api.upload(name, {"worker.cob": "DISPLAY 'HI'."}, file_name="worker.cob", runtime="cobol")
    task_id = api.queue(name)
    task = api.wait(task_id)
    assert task["status"] == "error" and "cobol" in task["msg"]
    assert "cobol" in api.log(task_id)


def test_image_only_code_fails_with_clear_msg(api: Api, name: str) -> None:
    """A code registered without a zip (a Docker image) cannot run locally and says so."""
    r = api.upload_raw({"name": name, "image": "iron/python", "command": "python x.py"}, None)
    assert r.status_code == 200
    task = api.wait(api.queue(name))
    assert task["status"] == "error" and "no zip" in task["msg"]
