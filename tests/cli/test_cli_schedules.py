"""Declared schedules through the real CLI against the module's real engine: plan text and
JSON, apply's table, a schedule firing, a changed one replacing the old, orphans and --prune,
and a located manifest error."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import Cli, Project, write_tree

from ironship.iron.types import Schedule
from ironship.iron.wait import wait_for_task
from ironship.manifest.scheduling import utc_text

SEP = "MAGICALSTDOUTSEPARATOR"
ECHO = (
    "import json, sys\n"
    "payload = json.load(open(sys.argv[sys.argv.index('-payload') + 1]))\n"
    f"print('{SEP}' + json.dumps(payload, sort_keys=True) + '{SEP}')\n"
)
BOUND = 60.0  # seconds: a bound on waiting loops, never a timing assertion


@pytest.fixture
def cli(project_cli: Cli) -> Cli:
    return project_cli


def manifest(tmp_path: Path, schedules: str) -> None:
    """Worker ``report`` (an echo of its payload) with the given ``schedules:`` lines."""
    write_tree(tmp_path, {"report/main.py": ECHO})
    (tmp_path / "ironship.yml").write_text(
        "version: 1\n"
        "workers:\n"
        "  report:\n"
        "    root: report\n"
        "    entry: main.py\n"
        "    payload: {kind: report, opts: {full: false}}\n"
        "    schedules:\n" + schedules
    )


def schedules(project: Project) -> list[Schedule]:
    with project.client() as client:
        return client.list_schedules()


def test_plan_apply_and_change_a_schedule(cli: Cli, project: Project, tmp_path: Path) -> None:
    """plan shows '+ schedule', apply creates it, then a change shows '~' and replaces it."""
    manifest(tmp_path, "      - name: nightly\n        every: 1d\n")
    plan = cli("plan")
    assert plan.code == 0, plan.err
    assert plan.out.splitlines() == [
        "+ report: create",
        "    new worker (1 file)",
        "    + schedule nightly (every 1d)",
        "Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged; schedules: 1 to create.",
    ]
    applied = cli("apply", "-y")
    assert applied.code == 0, applied.err
    assert "schedule nightly" in applied.out and "created" in applied.out
    (old,) = schedules(project)
    assert (old.run_every, old.status) == (86400, "scheduled")
    assert (old.label or "").startswith("ironship:report/nightly:")
    assert "No changes" in cli("plan").out
    manifest(tmp_path, "      - name: nightly\n        every: 12h\n")
    changed = cli("plan")
    assert "    ~ schedule nightly (every 1d → 12h)" in changed.out.splitlines()
    assert "schedules: 1 to replace" in changed.out
    assert cli("apply", "-y").code == 0
    now = {s.id: s for s in schedules(project)}
    assert now.pop(old.id).status == "cancelled"
    (new,) = now.values()
    assert (new.run_every, new.status) == (43200, "scheduled")


def test_plan_json_lists_schedules(cli: Cli, tmp_path: Path) -> None:
    """plan --json lists each worker's schedules and counts them apart from workers."""
    manifest(tmp_path, "      - name: nightly\n        every: 1d\n        priority: 2\n")
    res = cli("plan", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["schedule_summary"]["create"] == 1
    (nightly,) = doc["workers"][0]["schedules"]
    assert (nightly["name"], nightly["action"], nightly["timing"]) == (
        "nightly",
        "create",
        "every 1d",
    )
    assert nightly["after"]["priority"] == 2 and nightly["after"]["run_every"] == 86400


def test_a_declared_schedule_fires_with_the_merged_payload(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A schedule due a second after apply runs its worker once, its payload merged over the
    worker's."""
    soon = utc_text(datetime.now(UTC) + timedelta(seconds=1))
    manifest(
        tmp_path,
        "      - name: soon\n"
        "        every: 1m\n"
        f"        start_at: '{soon}'\n"
        "        run_times: 1\n"
        "        payload: {opts: {full: true}}\n",
    )
    res = cli("apply", "-y")
    assert res.code == 0, res.err
    assert "schedule soon" in res.out  # created: worth waiting for
    with project.client() as client:
        deadline = time.monotonic() + BOUND
        while not (tasks := client.list_tasks("report")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tasks, f"the schedule queued no task within {BOUND} s"
        task = wait_for_task(client, tasks[0].id, timeout=BOUND, poll=0.05)
        assert task.status == "complete"
        expected = {"kind": "report", "opts": {"full": True}}
        assert f"{SEP}{json.dumps(expected, sort_keys=True)}{SEP}" in (
            client.get_log(task.id) or ""
        )
    assert "No changes" in cli("plan").out  # ran its one time: not created again


def test_orphans_are_left_alone_and_prune_cancels_them(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    """A schedule made by someone else is listed with '?' and kept; --prune cancels it."""
    manifest(tmp_path, "      - name: nightly\n        every: 1d\n")
    assert cli("apply", "-y").code == 0
    with project.client() as client:
        other = client.create_schedule(
            {"code_name": "report", "payload": "{}", "run_every": 600, "label": "hand-made"}
        )
    plan = cli("plan")
    assert "    ? schedule hand-made (every 10m): not created by ironship; left alone" in (
        plan.out.splitlines()
    )
    assert cli("apply", "-y").code == 0
    assert {s.id: s.status for s in schedules(project)}[other] == "scheduled"
    pruned = cli("apply", "--prune", "-y")
    assert pruned.code == 0, pruned.err
    assert "- schedule hand-made (every 10m): not created by ironship; --prune cancels it" in (
        pruned.out
    )
    assert {s.id: s.status for s in schedules(project)}[other] == "cancelled"


def test_a_removed_schedule_is_cancelled(cli: Cli, project: Project, tmp_path: Path) -> None:
    """A schedule dropped from the manifest shows '- schedule' and is cancelled by apply."""
    manifest(
        tmp_path, "      - name: nightly\n        every: 1d\n      - name: old\n        every: 1h\n"
    )
    assert cli("apply", "-y").code == 0
    manifest(tmp_path, "      - name: nightly\n        every: 1d\n")
    plan = cli("plan")
    assert "    - schedule old (every 1h): not in the manifest" in plan.out.splitlines()
    res = cli("apply", "-y", "--json")
    assert res.code == 0, res.err
    (result,) = json.loads(res.out)["results"]
    assert [(s["name"], s["outcome"]) for s in result["schedules"]] == [
        ("nightly", "unchanged"),
        ("old", "cancelled"),
    ]
    assert sorted(s.status or "" for s in schedules(project)) == ["cancelled", "scheduled"]


def test_a_too_frequent_schedule_is_a_located_error(cli: Cli, tmp_path: Path) -> None:
    """every under a minute stops plan with the file, line, column and the fix."""
    manifest(tmp_path, "      - name: fast\n        every: 30s\n")
    res = cli("plan")
    assert res.code == 1
    assert "ironship.yml:9:16: workers.report.schedules[0].every: every 30s is 30 seconds" in (
        res.err
    )
    assert "use 60s (1m) or more" in res.err
    assert "Traceback" not in res.err
