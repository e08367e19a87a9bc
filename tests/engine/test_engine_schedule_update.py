"""PUT schedules/{id}: the partial update the official Ruby client sends
(docs/ironworker-api.md §4 (Schedules)), checked like a create and applied to later runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engine_helpers import Api, wait_for

FAR = "2999-01-01T00:00:00Z"


def _schedule(api: Api, **body: object) -> str:
    return str(api.ok("POST", "/schedules", json={"schedules": [body]})["schedules"][0]["id"])


def _get(api: Api, sid: str) -> dict[str, Any]:
    result: dict[str, Any] = api.ok("GET", f"/schedules/{sid}")
    return result


def test_put_changes_only_the_fields_given(api: Api, name: str) -> None:
    """PUT with payload and run_every answers {"msg": "Updated"} and leaves the rest alone."""
    api.upload(name)
    sid = _schedule(
        api,
        code_name=name,
        payload='{"a": 1}',
        start_at=FAR,
        run_every=3600,
        priority=1,
        label="nightly",
    )
    before = _get(api, sid)
    body = {"payload": '{"a": 2}', "run_every": 120}
    assert api.ok("PUT", f"/schedules/{sid}", json=body) == {"msg": "Updated"}
    after = _get(api, sid)
    assert (after["payload"], after["run_every"]) == ('{"a": 2}', 120)
    unchanged = ("code_name", "start_at", "next_start", "priority", "label", "timeout", "status")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


def test_put_accepts_a_payload_object_and_moves_the_start(api: Api, name: str) -> None:
    """A payload object is stored as JSON text; a new start_at is also the next run."""
    api.upload(name)
    sid = _schedule(api, code_name=name, start_at=FAR, run_every=3600)
    later = "2998-06-01T12:00:00Z"
    api.ok("PUT", f"/schedules/{sid}", json={"payload": {"b": True}, "start_at": later})
    sched = _get(api, sid)
    assert sched["payload"] == '{"b": true}'
    assert sched["start_at"].startswith("2998-06-01T12:00:00")
    assert sched["next_start"].startswith("2998-06-01T12:00:00")


def test_the_next_run_carries_the_updated_payload(api: Api, name: str) -> None:
    """A schedule moved to start now with a new payload fires with that payload."""
    api.upload(name)
    sid = _schedule(api, code_name=name, payload='{"print": "old"}', start_at=FAR, run_times=1)
    now = datetime.now(UTC).isoformat()
    api.ok("PUT", f"/schedules/{sid}", json={"payload": '{"print": "new"}', "start_at": now})

    def fired() -> bool:
        return bool(_get(api, sid)["status"] == "complete")

    wait_for(fired, "the updated schedule to run")
    (task,) = api.ok("GET", "/tasks", params={"code_name": name})["tasks"]
    assert task["schedule_id"] == sid and task["payload"] == '{"print": "new"}'
    assert "new" in api.log(api.wait(task["id"])["id"])


def test_run_times_already_reached_completes_the_schedule(api: Api, name: str) -> None:
    """Lowering run_times to what already ran ends the schedule, as its last run would."""
    api.upload(name)
    start = datetime.now(UTC).isoformat()
    sid = _schedule(api, code_name=name, start_at=start, run_every=3600)
    wait_for(lambda: _get(api, sid)["run_count"] == 1, "the first run")
    api.ok("PUT", f"/schedules/{sid}", json={"run_times": 1})
    sched = _get(api, sid)
    assert (sched["status"], sched["msg"]) == ("complete", "Ran max times.")
    assert sched["next_start"] == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"run_every": 30}, "run_every must be at least 60"),
        ({"end_at": "2000-01-01T00:00:00Z"}, "end_at is before start_at"),
        ({"start_at": "yesterday"}, "is not an RFC3339 time"),
        ({"priority": "high"}, "priority must be an integer"),
    ],
)
def test_bad_values_are_a_400(api: Api, name: str, body: dict[str, Any], words: str) -> None:
    """A PUT value a create would refuse is a 400 naming it, and changes nothing."""
    api.upload(name)
    sid = _schedule(api, code_name=name, start_at=FAR, run_every=3600)
    before = _get(api, sid)
    r = api.call("PUT", f"/schedules/{sid}", json=body)
    assert r.status_code == 400 and words in r.json()["msg"]
    assert _get(api, sid) == before


def test_unknown_code_and_schedule_are_404(api: Api, name: str) -> None:
    """A code_name that does not exist, or a schedule id that does not, is a 404."""
    api.upload(name)
    sid = _schedule(api, code_name=name, start_at=FAR)
    r = api.call("PUT", f"/schedules/{sid}", json={"code_name": "no-such-code"})
    assert r.status_code == 404 and "no-such-code" in r.json()["msg"]
    r = api.call("PUT", f"/schedules/{'0' * 24}", json={"run_every": 60})
    assert r.status_code == 404 and r.json()["msg"] == "Schedule not found"


def test_a_cancelled_schedule_cannot_be_updated(api: Api, name: str) -> None:
    """PUT on a cancelled schedule is a 400 saying so."""
    api.upload(name)
    sid = _schedule(api, code_name=name, start_at=FAR)
    api.ok("POST", f"/schedules/{sid}/cancel")
    r = api.call("PUT", f"/schedules/{sid}", json={"run_every": 60})
    assert r.status_code == 400
    assert r.json()["msg"] == "schedule is cancelled; only an active schedule can be updated"


def test_put_needs_a_json_content_type(api: Api, name: str) -> None:
    """Like a create, a PUT body without Content-Type: application/json is a 406."""
    api.upload(name)
    sid = _schedule(api, code_name=name, start_at=FAR)
    r = api.call("PUT", f"/schedules/{sid}", data=b'{"run_every": 60}')
    assert r.status_code == 406


def test_changing_the_code_moves_later_runs(api: Api, name: str) -> None:
    """A new code_name is where the next run's task goes."""
    api.upload(name)
    other = name + "-b"
    api.upload(other)
    sid = _schedule(api, code_name=name, start_at=FAR, run_times=1)
    start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    api.ok("PUT", f"/schedules/{sid}", json={"code_name": other, "start_at": start})
    wait_for(lambda: _get(api, sid)["status"] == "complete", "the schedule to run")
    assert api.ok("GET", "/tasks", params={"code_name": name})["tasks"] == []
    assert len(api.ok("GET", "/tasks", params={"code_name": other})["tasks"]) == 1
