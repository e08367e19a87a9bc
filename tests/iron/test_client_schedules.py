"""The client's schedule calls against the real local engine: create, list, get, cancel."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ironship.engine.server import EngineServer
from ironship.errors import ApiError
from ironship.iron.client import Client
from ironship.iron.types import Schedule


@pytest.fixture
def client(engine: EngineServer, tmp_path: Path) -> Iterator[Client]:
    """A client of the module's engine with a code package ``sched`` uploaded."""
    zip_path = tmp_path / "w.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("w.sh", "echo hi\n")
    with Client(engine.url, engine.project_id, engine.token, timeout=10, backoff=0.05) as c:
        c.upload_code({"name": "sched", "runtime": "sh", "file_name": "w.sh"}, zip_path)
        yield c


def test_a_created_schedule_keeps_its_label_and_fields(client: Client) -> None:
    """What create sends comes back from get and from the list, label included."""
    sid = client.create_schedule(
        {
            "code_name": "sched",
            "payload": '{"n": 1}',
            "run_every": 3600,
            "start_at": "2030-01-01T03:00:00Z",
            "run_times": 2,
            "priority": 1,
            "timeout": 60,
            "label": "ironship:sched/hourly:0123456789abcdef",
        }
    )
    got = client.get_schedule(sid)
    assert (got.code_name, got.payload, got.run_every, got.run_times) == (
        "sched",
        '{"n": 1}',
        3600,
        2,
    )
    assert (got.priority, got.timeout, got.label, got.status) == (
        1,
        60,
        "ironship:sched/hourly:0123456789abcdef",
        "scheduled",
    )
    assert got.start_at is not None and got.start_at.startswith("2030-01-01T03:00:00")
    assert got.end_at is None  # the engine shows an unset end_at as Go's zero time
    assert got.active
    assert sid in {s.id for s in client.list_schedules()}


def test_a_cancelled_schedule_is_listed_as_cancelled(client: Client) -> None:
    """cancel_schedule stops it; the list still shows it, no longer active."""
    sid = client.create_schedule({"code_name": "sched", "payload": "{}", "run_every": 600})
    client.cancel_schedule(sid)
    (listed,) = [s for s in client.list_schedules() if s.id == sid]
    assert (listed.status, listed.active) == ("cancelled", False)


def test_create_schedules_returns_one_id_per_schedule(client: Client) -> None:
    """Several schedules in one call come back as their ids, in order."""
    ids = client.create_schedules(
        [
            {"code_name": "sched", "payload": "{}", "run_every": 600, "label": "a"},
            {"code_name": "sched", "payload": "{}", "run_every": 600, "label": "b"},
        ]
    )
    assert [client.get_schedule(i).label for i in ids] == ["a", "b"]


def test_refused_schedules_raise_api_errors(client: Client) -> None:
    """A run_every under 60 is the server's 400; a payload that is no string is refused first."""
    with pytest.raises(ApiError) as caught:
        client.create_schedule({"code_name": "sched", "payload": "{}", "run_every": 30})
    assert caught.value.status == 400 and "run_every" in caught.value.msg
    with pytest.raises(TypeError):
        client.create_schedule({"code_name": "sched", "payload": {"n": 1}})


def test_schedule_json_reads_zero_values_as_unset() -> None:
    """run_times 0 and Go's zero time mean unset; a status-less schedule counts as active."""
    s = Schedule.from_json(
        {
            "id": "x",
            "code_name": "w",
            "run_times": 0,
            "end_at": "0001-01-01T00:00:00Z",
            "next_start": "0001-01-01T00:00:00Z",
            "label": "",
        }
    )
    assert (s.run_times, s.end_at, s.next_start, s.label, s.active) == (
        None,
        None,
        None,
        None,
        True,
    )
