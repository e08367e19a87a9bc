"""Declared schedules against the real local engine over HTTP: one fires, a changed one
replaces the old. The deploy core is driven directly (plan, then apply) with the real client."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_support import Project
from deploy.workspace import Workspace

from ironship.deploy.executor import apply_plan
from ironship.deploy.models import Plan
from ironship.deploy.planner import make_plan
from ironship.deploy.schedules import plan_schedules
from ironship.iron.client import Client
from ironship.iron.types import Task
from ironship.iron.wait import wait_for_task
from ironship.manifest.models import WorkerSchedule
from ironship.manifest.scheduling import utc_text

SEP = "MAGICALSTDOUTSEPARATOR"
ECHO = (
    "import json, sys\n"
    "payload = json.load(open(sys.argv[sys.argv.index('-payload') + 1]))\n"
    f"print('{SEP}' + json.dumps(payload, sort_keys=True) + '{SEP}')\n"
)
BOUND = 60.0  # seconds: a bound on waiting loops, never a timing assertion


def planned(client: Client, ws: Workspace) -> Plan:
    return plan_schedules(client, ws.manifest, make_plan(client, ws.manifest))


def first_task(client: Client, worker: str) -> Task:
    """The first task the engine queued for ``worker``, waiting for it with a bound."""
    deadline = time.monotonic() + BOUND
    while True:
        tasks = client.list_tasks(worker)
        if tasks or time.monotonic() > deadline:
            assert tasks, f"no task of {worker} within {BOUND} s"
            return tasks[-1]
        time.sleep(0.05)


def test_a_declared_schedule_fires_on_the_engine(project: Project, tmp_path: Path) -> None:
    """A schedule due a second after apply queues one task with its payload, once."""
    ws = Workspace(tmp_path / "project")
    ws.worker("ticker", {"main.py": ECHO})
    soon = utc_text(datetime.now(UTC) + timedelta(seconds=1))
    payload = {"from": "schedule", "n": 2}
    once = WorkerSchedule("soon", every=60, start_at=soon, run_times=1, payload=payload)
    ws.change("ticker", schedules=(once,))
    with project.client() as client:
        result = apply_plan(client, planned(client, ws), build_dir=tmp_path / "build")
        assert [(r.outcome, [s.outcome for s in r.schedules]) for r in result.results] == [
            ("created", ["created"])
        ]
        task = wait_for_task(client, first_task(client, "ticker").id, timeout=BOUND, poll=0.05)
        assert task.status == "complete"
        assert json.loads(task.payload or "") == payload
        log = client.get_log(task.id) or ""
        assert f"{SEP}{json.dumps(payload, sort_keys=True)}{SEP}" in log
        (fired,) = client.list_schedules()
        assert fired.run_count == 1
        # Ran its one time: still stands for its declaration, so nothing to do now.
        assert not planned(client, ws).has_changes


def test_a_changed_schedule_replaces_the_old_one(project: Project, tmp_path: Path) -> None:
    """After a change, the engine holds the old schedule cancelled and the new one scheduled."""
    ws = Workspace(tmp_path / "project")
    ws.worker("report", {"main.py": ECHO})
    ws.change("report", schedules=(WorkerSchedule("hourly", every=3600),))
    with project.client() as client:
        apply_plan(client, planned(client, ws), build_dir=tmp_path / "build")
        (old,) = client.list_schedules()
        ws.change("report", schedules=(WorkerSchedule("hourly", every=1800),))
        plan = planned(client, ws)
        assert plan.workers[0].schedules[0].changes == ("every 1h → 30m",)
        result = apply_plan(client, plan, build_dir=tmp_path / "build")
        (done,) = result.results[0].schedules
        assert (done.outcome, done.cancelled) == ("replaced", (old.id,))
        now = {s.id: s for s in client.list_schedules()}
        assert now[old.id].status == "cancelled"
        new = now[done.id or ""]
        assert (new.status, new.run_every) == ("scheduled", 1800)
        assert (new.label or "").startswith("ironship:report/hourly:")
        assert new.label != old.label
        assert not planned(client, ws).has_changes
