"""How plans and apply results show schedules: text lines under their worker, JSON, rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace

from ironship.deploy.executor import apply_plan
from ironship.deploy.models import ApplyResult, Plan
from ironship.deploy.planner import make_plan
from ironship.deploy.render import (
    apply_json,
    plan_json,
    plan_lines,
    result_rows,
    result_summary,
    summary_line,
)
from ironship.deploy.schedule_json import schedules_from_json
from ironship.deploy.schedules import plan_schedules
from ironship.manifest.models import WorkerSchedule


def planned(server: FakeIron, ws: Workspace) -> Plan:
    return plan_schedules(server, ws.manifest, make_plan(server, ws.manifest))


def texts(plan: Plan, verbose: bool = False) -> list[str]:
    return [text for text, _ in plan_lines(plan, verbose=verbose)]


@pytest.fixture
def first(ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path) -> ApplyResult:
    """alpha deployed; alpha declares hourly and old, the new beta declares nightly; applied."""
    uploader.upload(server, ws.desired("alpha"))
    ws.change(
        "alpha",
        schedules=(WorkerSchedule("hourly", every=3600), WorkerSchedule("old", every=600)),
    )
    nightly = WorkerSchedule("nightly", every=86400, start_at="2030-01-01T03:00:00Z", run_times=3)
    ws.change("beta", schedules=(nightly,))
    return apply_plan(server, planned(server, ws), build_dir=tmp_path / "build")


def test_new_schedules_show_under_their_worker(first: ApplyResult) -> None:
    """A worker whose code is unchanged is shown for its schedules; each line says its timing."""
    assert texts(first.plan) == [
        "  alpha: unchanged (schedules change)",
        "    + schedule hourly (every 1h)",
        "    + schedule old (every 10m)",
        "+ beta: create",
        "    new worker (1 file)",
        "    + schedule nightly (every 1d from 2030-01-01T03:00:00Z, 3 times)",
        "Plan: 1 to create, 0 to update, 0 to delete, 1 unchanged; schedules: 3 to create.",
    ]


def test_changed_removed_and_orphan_schedules(
    ws: Workspace, server: FakeIron, first: ApplyResult, tmp_path: Path
) -> None:
    """~ names the change, - the removal, ? an orphan; the summary counts schedules apart."""
    ws.change("alpha", schedules=(WorkerSchedule("hourly", every=1800),))
    server.add_schedule(code_name="alpha", run_every=60, label="team-report")
    plan = planned(server, ws)
    assert texts(plan) == [
        "  alpha: unchanged (schedules change)",
        "    ~ schedule hourly (every 1h → 30m)",
        "    - schedule old (every 10m): not in the manifest",
        "    ? schedule team-report (every 1m): not created by ironship; left alone",
        "Plan: 0 to create, 0 to update, 0 to delete, 2 unchanged; schedules: 1 to replace, "
        "1 to cancel, 1 unchanged, 1 orphan(s) (not touched; see --prune).",
    ]
    assert texts(plan, verbose=True)[-3:] == [
        "  beta: unchanged",
        "      schedule nightly (every 1d from 2030-01-01T03:00:00Z, 3 times)",
        summary_line(plan),
    ]
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    rows = result_rows(result)
    assert [row[:3] for row in rows] == [
        ("alpha", "unchanged", "unchanged"),
        ("  schedule hourly", "update", "replaced"),
        ("  schedule old", "delete", "cancelled"),
        ("  schedule team-report", "orphan", "orphan"),
        ("beta", "unchanged", "unchanged"),
        ("  schedule nightly", "unchanged", "unchanged"),
    ]
    assert rows[1][3].startswith("id s") and " (replaces s" in rows[1][3]
    assert result_summary(result) == "2 unchanged; schedules: 1 replaced, 1 cancelled."


def test_an_update_of_code_and_schedules_says_both(
    ws: Workspace, server: FakeIron, first: ApplyResult
) -> None:
    """A worker whose code and schedules change is an update of both."""
    (ws.root / "workers" / "alpha" / "lib.py").write_text("A = 2\n")
    ws.change("alpha", schedules=(WorkerSchedule("hourly", every=3600),))
    assert texts(planned(server, ws))[0] == "~ alpha: update (code, schedules)"


def test_plan_json_lists_each_workers_schedules(first: ApplyResult) -> None:
    """plan --json carries a schedule summary and each worker's schedules, without payloads."""
    doc = plan_json(first.plan, "local")
    assert doc["schedule_summary"] == {
        "create": 3,
        "update": 0,
        "delete": 0,
        "unchanged": 0,
        "orphan": 0,
    }
    alpha = doc["workers"][0]
    assert alpha["schedule_changes"] is True
    hourly = alpha["schedules"][0]
    assert {k: hourly[k] for k in ("name", "action", "timing", "id", "cancel", "create")} == {
        "name": "hourly",
        "action": "create",
        "timing": "every 1h",
        "id": None,
        "cancel": [],
        "create": True,
    }
    assert hourly["after"]["label"].startswith("ironship:alpha/hourly:")
    assert "payload" not in hourly["after"]


def test_apply_json_gives_each_schedules_outcome(first: ApplyResult) -> None:
    """apply --json names every schedule's outcome and the id it created."""
    doc = apply_json(first, "local")
    assert doc["schedule_outcomes"]["created"] == 3
    (nightly,) = doc["results"][1]["schedules"]
    assert (nightly["name"], nightly["outcome"], nightly["cancelled"]) == ("nightly", "created", [])
    assert isinstance(nightly["id"], str) and nightly["id"]


def test_a_saved_plans_schedules_read_back_show_the_same_lines(
    ws: Workspace, server: FakeIron, first: ApplyResult
) -> None:
    """Schedules read back from plan JSON (a plan file) render as the plan did."""
    ws.change("alpha", schedules=(WorkerSchedule("hourly", every=1800),))
    server.add_schedule(
        code_name="alpha", run_every=60, label="team-report", end_at="2031-01-01T00:00:00Z"
    )
    plan = planned(server, ws)
    doc = plan_json(plan, "local")
    back = Plan(
        tuple(
            replace(wp, schedules=schedules_from_json(w["schedules"]))
            for wp, w in zip(plan.workers, doc["workers"], strict=True)
        ),
        plan.prune,
    )
    assert texts(back, verbose=True) == texts(plan, verbose=True)
    assert back.has_changes and back.schedule_summary == plan.schedule_summary
    assert schedules_from_json([{"name": 1}, "x", {"name": "a", "action": "bogus"}]) == ()
    assert schedules_from_json(None) == ()
