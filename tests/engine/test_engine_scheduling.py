"""Dispatch rules: max_concurrency, priority, delay, pause/resume, retries and schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import Api, wait_for

from ironship.engine.server import EngineServer
from ironship.engine.state.schedules import advance


def _ts(rfc: str) -> float:
    return datetime.fromisoformat(rfc).timestamp()


def _now_ms(later: timedelta = timedelta()) -> datetime:
    """Now (plus ``later``) in whole milliseconds, the precision the engine reports times in.

    A time with microseconds can lie inside the millisecond a schedule then fires in, and the
    fire time as reported (cut to that millisecond) would read as earlier than the start.
    """
    at = datetime.now(UTC) + later
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def test_max_concurrency_keeps_extra_tasks_queued(api: Api, name: str, tmp_path: Path) -> None:
    """With max_concurrency 1 a second task stays queued while the first runs."""
    api.upload(name, max_concurrency=1)
    release = tmp_path / "release"
    # The sandbox lets a task write only its own folder: "started" shows in its log instead.
    first = api.queue(name, {"print": "started", "wait_for": str(release)})
    second = api.queue(name, {"wait_for": str(release)})
    api.wait_status(first, ["running"])  # the shared engine may still run earlier tests' tasks
    wait_for(lambda: "started" in api.log(first), "the first task to start")
    for _ in range(10):  # the engine has 2 workers: only the code's limit holds the second
        assert api.task(second)["status"] == "queued"
        time.sleep(0.02)
    release.touch()
    assert api.wait(first)["status"] == "complete"
    assert api.wait(second)["status"] == "complete"
    assert api.task(second)["start_time"] >= api.task(first)["end_time"]


def test_priority_orders_the_queue(api: Api, name: str) -> None:
    """Higher priority starts first; equal priorities run oldest first."""
    code_id = api.upload(name, max_concurrency=1)
    api.ok("POST", f"/codes/{code_id}/pause_task_queue")
    low = api.queue(name, {}, priority=0)
    high = api.queue(name, {}, priority=2)
    mid1 = api.queue(name, {}, priority=1)
    mid2 = api.queue(name, {}, priority=1)
    api.ok("POST", f"/codes/{code_id}/resume_task_queue")
    order = sorted((api.wait(t)["start_time"], t) for t in (low, high, mid1, mid2))
    assert [t for _, t in order] == [high, mid1, mid2, low]


def test_default_priority_from_code(api: Api, name: str) -> None:
    """A task without a valid priority (-3 from the CLI) takes the code's default_priority."""
    api.upload(name, default_priority=2)
    task_id = api.queue(name, {}, priority=-3, delay=3600)
    assert api.task(task_id)["priority"] == 2
    api.ok("POST", f"/tasks/{task_id}/cancel")


def test_delay(api: Api, name: str) -> None:
    """A delayed task stays queued and starts no earlier than its delay."""
    api.upload(name)
    task_id = api.queue(name, {}, delay=1)
    assert api.task(task_id)["status"] == "queued"
    task = api.wait(task_id)
    assert task["status"] == "complete"
    assert _ts(task["start_time"]) - _ts(task["created_at"]) >= 1.0


def test_pause_and_resume(api: Api, name: str) -> None:
    """A paused queue holds its tasks and reads max_concurrency -1; resume runs them."""
    code_id = api.upload(name, max_concurrency=3)
    assert api.ok("POST", f"/codes/{code_id}/pause_task_queue", json={}) == {"msg": "Paused"}
    assert api.ok("POST", f"/codes/{code_id}/pause_task_queue")["msg"] == "Already paused"
    assert api.ok("GET", f"/codes/{code_id}")["max_concurrency"] == -1
    listed = api.ok("GET", "/codes", params={"per_page": 100})["codes"]
    assert all(c["max_concurrency"] == -1 for c in listed if c["id"] == code_id)
    task_id = api.queue(name)
    time.sleep(0.2)
    assert api.task(task_id)["status"] == "queued"
    assert api.ok("POST", f"/codes/{code_id}/resume_task_queue") == {"msg": "Resumed"}
    assert api.ok("POST", f"/codes/{code_id}/resume_task_queue")["msg"] == "Already resumed"
    assert api.ok("GET", f"/codes/{code_id}")["max_concurrency"] == 3
    assert api.wait(task_id)["status"] == "complete"


def test_task_runs_the_revision_latest_when_queued(api: Api, name: str) -> None:
    """A task queued before a new upload still runs the old revision."""
    code_id = api.upload(name, {"worker.py": "print('one')"})
    api.ok("POST", f"/codes/{code_id}/pause_task_queue")
    old = api.queue(name)
    api.upload(name, {"worker.py": "print('two')"})
    new = api.queue(name)
    api.ok("POST", f"/codes/{code_id}/resume_task_queue")
    assert (api.wait(old)["code_rev"], api.log(old)) == ("1", "one\n")
    assert (api.wait(new)["code_rev"], api.log(new)) == ("2", "two\n")


def test_retries_requeue_failed_tasks(api: Api, name: str) -> None:
    """retries=2: a failing task runs three times, linked by retry_task_id/original_task_id."""
    api.upload(name, retries=2, retries_delay=0)
    first = api.queue(name, {"exit": 1})
    chain = [api.wait(first)]
    while "retry_task_id" in chain[-1]:
        chain.append(api.wait(chain[-1]["retry_task_id"]))
    assert [t["status"] for t in chain] == ["error", "error", "error"]
    assert [t["retry_count"] for t in chain] == [0, 1, 2]
    assert all(t["original_task_id"] == first for t in chain[1:])


def test_manual_retry_creates_a_new_task(api: Api, name: str) -> None:
    """POST retry queues a new task with the same payload and links it."""
    api.upload(name)
    first = api.queue(name, {"print": "again"})
    api.wait(first)
    body = api.ok("POST", f"/tasks/{first}/retry", json={"delay": 0})
    new = body["tasks"][0]["id"]
    assert new != first and api.task(first)["retry_task_id"] == new
    assert api.wait(new)["status"] == "complete" and api.log(new) == "again\n"
    assert api.task(new)["original_task_id"] == first
    # A retry of the retry still points at the first task.
    third = api.ok("POST", f"/tasks/{new}/retry", json={"delay": 0})["tasks"][0]["id"]
    assert api.task(new)["retry_task_id"] == third
    assert (api.task(third)["original_task_id"], api.task(third)["retry_count"]) == (first, 2)
    api.wait(third)


def test_retry_of_an_unfinished_task_is_refused(api: Api, name: str) -> None:
    """Only a finished task can be retried: a queued one is a 400 with msg."""
    api.upload(name)
    task_id = api.queue(name, {}, delay=3600)
    r = api.call("POST", f"/tasks/{task_id}/retry", json={"delay": 0})
    assert r.status_code == 400 and "queued" in r.json()["msg"]
    api.ok("POST", f"/tasks/{task_id}/cancel")


def test_global_worker_limit(data_dir: Path, tmp_path: Path) -> None:
    """--workers 1: a task of another code stays queued while the only worker is busy."""
    with EngineServer(data_dir, workers=1, poll_interval=0.02) as eng:
        api = Api(eng.url, eng.project_id, eng.token)
        api.upload("a")
        api.upload("b")
        release = tmp_path / "release"
        first = api.queue("a", {"print": "started", "wait_for": str(release)})
        api.wait_status(first, ["running"])
        wait_for(lambda: "started" in api.log(first), "the first task to start")
        second = api.queue("b")
        for _ in range(10):
            assert api.task(second)["status"] == "queued"
            time.sleep(0.02)
        release.touch()
        assert api.wait(second)["status"] == "complete"
        assert _ts(api.task(second)["start_time"]) >= _ts(api.task(first)["end_time"])


def test_schedule_fires(api: Api, name: str) -> None:
    """A schedule starting now with run_times 1 queues one task and then completes."""
    api.upload(name)
    start = datetime.now(UTC).isoformat()
    body = {"code_name": name, "payload": '{"argv": 1}', "start_at": start, "run_times": 1}
    sid = api.ok("POST", "/schedules", json={"schedules": [body]})["schedules"][0]["id"]

    def done() -> bool:
        return bool(api.ok("GET", f"/schedules/{sid}")["status"] == "complete")

    wait_for(done, "the schedule to run")
    sched = api.ok("GET", f"/schedules/{sid}")
    assert sched["run_count"] == 1 and sched["msg"] == "Ran max times."
    assert sched["last_run_time"] != "0001-01-01T00:00:00Z"
    tasks = api.ok("GET", "/tasks", params={"code_name": name})["tasks"]
    assert len(tasks) == 1 and tasks[0]["schedule_id"] == sid
    task_id = tasks[0]["id"]
    api.wait(task_id)
    assert f'"-schedule_id", "{sid}"' in api.log(task_id)
    assert any(s["id"] == sid for s in api.ok("GET", "/schedules")["schedules"])


def test_schedule_in_the_future_waits_and_cancels(api: Api, name: str) -> None:
    """A future schedule reports next_start and run_count 0; cancel stops it."""
    api.upload(name)
    start = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"code_name": name, "start_at": start, "run_every": 3600, "run_times": 0}
    sid = api.ok("POST", "/schedules", json={"schedules": [body]})["schedules"][0]["id"]
    sched = api.ok("GET", f"/schedules/{sid}")
    assert sched["run_count"] == 0 and sched["next_start"].startswith(start[:19])
    assert "run_times" not in sched  # run_times 0 means unset
    assert api.ok("POST", f"/schedules/{sid}/cancel") == {"msg": "Cancelled"}
    assert api.ok("GET", f"/schedules/{sid}")["status"] == "cancelled"


def _schedule(api: Api, **body: object) -> str:
    return str(api.ok("POST", "/schedules", json={"schedules": [body]})["schedules"][0]["id"])


def _wait_schedule(api: Api, sid: str, field: str, value: object) -> dict[str, Any]:
    def reached() -> bool:
        return bool(api.ok("GET", f"/schedules/{sid}")[field] == value)

    wait_for(reached, f"schedule {field} to become {value!r}")
    result: dict[str, Any] = api.ok("GET", f"/schedules/{sid}")
    return result


def test_schedule_start_at_is_honoured(api: Api, name: str) -> None:
    """A schedule starting in a second fires then, not at creation."""
    api.upload(name)
    start = _now_ms(timedelta(seconds=1))
    sid = _schedule(api, code_name=name, start_at=start.isoformat(), run_times=1)
    assert api.ok("GET", f"/schedules/{sid}")["run_count"] == 0
    sched = _wait_schedule(api, sid, "status", "complete")
    (task,) = api.ok("GET", "/tasks", params={"code_name": name})["tasks"]
    assert datetime.fromisoformat(task["created_at"]) >= start
    assert datetime.fromisoformat(sched["last_run_time"]) >= start
    assert sched["next_start"] == "0001-01-01T00:00:00Z"


def test_repeating_schedule_reports_its_next_run(api: Api, name: str) -> None:
    """After its first run a repeating schedule reports run_count, last_run_time, next_start."""
    api.upload(name)
    start = _now_ms()
    sid = _schedule(api, code_name=name, start_at=start.isoformat(), run_every=3600)
    sched = _wait_schedule(api, sid, "run_count", 1)
    assert sched["status"] == "scheduled" and "msg" not in sched
    assert datetime.fromisoformat(sched["next_start"]) == start + timedelta(hours=1)
    assert datetime.fromisoformat(sched["last_run_time"]) >= start
    assert api.ok("POST", f"/schedules/{sid}/cancel") == {"msg": "Cancelled"}
    sched = api.ok("GET", f"/schedules/{sid}")
    assert (sched["status"], sched["run_count"]) == ("cancelled", 1)
    assert sched["next_start"] == "0001-01-01T00:00:00Z"


def test_schedule_end_at_is_honoured(api: Api, name: str) -> None:
    """A schedule whose next run would pass end_at completes after its last run."""
    api.upload(name)
    now = datetime.now(UTC)
    body = {"code_name": name, "run_every": 60, "end_at": (now + timedelta(seconds=30)).isoformat()}
    sid = _schedule(api, start_at=now.isoformat(), **body)
    sched = _wait_schedule(api, sid, "status", "complete")
    assert (sched["run_count"], sched["msg"]) == (1, "Reached end_at.")
    assert len(api.ok("GET", "/tasks", params={"code_name": name})["tasks"]) == 1


def test_schedule_ending_before_its_start_never_runs(api: Api, name: str) -> None:
    """A window already over (start and end_at past): it completes without queueing anything."""
    api.upload(name)
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=2)).isoformat(), (now - timedelta(hours=1)).isoformat()
    sid = _schedule(api, code_name=name, start_at=start, end_at=end, run_every=60)
    sched = _wait_schedule(api, sid, "status", "complete")
    assert (sched["run_count"], sched["msg"]) == (0, "Reached end_at.")
    assert api.ok("GET", "/tasks", params={"code_name": name})["tasks"] == []


@pytest.mark.parametrize("run_every", [0, 1, 59])
def test_run_every_below_60_is_rejected(api: Api, name: str, run_every: int) -> None:
    """run_every < 60 is a 400 with msg."""
    api.upload(name)
    body = {"code_name": name, "run_every": run_every}
    r = api.call("POST", "/schedules", json={"schedules": [body]})
    assert r.status_code == 400 and "run_every" in r.json()["msg"]


def test_advance_rules() -> None:
    """Schedule timing: next run, run_times reached, end_at passed, missed runs skipped."""
    assert advance(100.0, 100.0, 60, None, 1, None) == (160.0, None)
    assert advance(100.0, 100.0, 60, 2, 2, None) == (None, "Ran max times.")
    assert advance(100.0, 100.0, None, None, 1, None) == (None, "Ran max times.")
    assert advance(100.0, 100.0, 60, None, 1, 150.0) == (None, "Reached end_at.")
    assert advance(100.0, 400.0, 60, None, 1, None) == (460.0, None)
