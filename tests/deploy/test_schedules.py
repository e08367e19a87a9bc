"""Declared schedules planned and applied on the in-memory server: whole Plan and ApplyResult
values for create, unchanged, changed (cancel + create), removed, orphans and --prune."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace

from ironship import exitcodes
from ironship.deploy.executor import apply_plan
from ironship.deploy.guard import apply_exit_code
from ironship.deploy.models import (
    ApplyResult,
    Plan,
    SchedulePlan,
    ScheduleResult,
    WorkerPlan,
    WorkerResult,
)
from ironship.deploy.planner import make_plan
from ironship.deploy.schedules import ScheduleStore, desired_schedule, plan_schedules
from ironship.iron.client import Client
from ironship.iron.types import Code, Schedule
from ironship.manifest.models import WorkerSchedule

HOURLY = WorkerSchedule("hourly", every=3600, payload={"kind": "hourly"})
NIGHTLY = WorkerSchedule("nightly", every=86400, start_at="2030-01-01T03:00:00Z")


def planned(server: FakeIron, ws: Workspace, **options: Any) -> Plan:
    """What ``plan`` decides: the workers' code, then their schedules."""
    return plan_schedules(server, ws.manifest, make_plan(server, ws.manifest, **options))


def with_schedules(plan: Plan, **schedules: tuple[SchedulePlan, ...]) -> Plan:
    """``plan`` (the code side, as make_plan decides it) with the given schedule plans."""
    workers = tuple(
        WorkerPlan(
            w.name,
            w.action,
            w.reasons,
            w.code_changed,
            w.settings,
            w.files,
            w.local,
            w.remote,
            schedules.get(w.name, ()),
        )
        for w in plan.workers
    )
    return Plan(workers, plan.prune, plan.notes, plan.warnings)


def desired(ws: Workspace, worker: str, s: WorkerSchedule) -> Any:
    return desired_schedule(ws.workers[worker], s)


def by_label(server: FakeIron, label: str) -> Schedule:
    (found,) = [s for s in server.list_schedules() if s.label == label]
    return found


@pytest.fixture
def deployed(ws: Workspace, server: FakeIron, uploader: Uploader) -> FakeIron:
    """alpha and beta uploaded by ironship, no schedule yet."""
    uploader.upload(server, ws.desired("alpha"))
    uploader.upload(server, ws.desired("beta"))
    return server


def test_a_declared_schedule_is_created_with_its_label(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """A new schedule of an unchanged worker is planned as a create and created, labelled."""
    ws.change("alpha", schedules=(HOURLY,))
    plan = planned(deployed, ws)
    code_only = make_plan(deployed, ws.manifest)
    hourly = desired(ws, "alpha", HOURLY)
    assert plan == with_schedules(
        code_only, alpha=(SchedulePlan("hourly", "create", desired=hourly, create=True),)
    )
    assert plan.has_changes and plan.schedule_summary["create"] == 1
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    made = by_label(deployed, hourly.label)
    assert result == ApplyResult(
        plan,
        (
            WorkerResult(
                "alpha",
                "unchanged",
                "unchanged",
                1,
                1,
                schedules=(ScheduleResult("hourly", "create", "created", made.id),),
            ),
            WorkerResult("beta", "unchanged", "unchanged", 1, 1),
        ),
    )
    assert (made.code_name, made.run_every, made.payload) == ("alpha", 3600, '{"kind": "hourly"}')
    assert hourly.label.startswith("ironship:alpha/hourly:")


def test_an_applied_schedule_is_unchanged_at_the_next_plan(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Once created, the same declaration plans nothing, and apply makes no schedule call."""
    ws.change("alpha", schedules=(HOURLY,))
    apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    hourly = desired(ws, "alpha", HOURLY)
    made = by_label(deployed, hourly.label)
    plan = planned(deployed, ws)
    assert plan == with_schedules(
        make_plan(deployed, ws.manifest),
        alpha=(SchedulePlan("hourly", "unchanged", desired=hourly, remote=made),),
    )
    assert not plan.has_changes
    calls = len(deployed.schedule_calls)
    apply_plan(deployed, plan, build_dir=tmp_path / "build")
    assert len(deployed.schedule_calls) == calls


def test_a_changed_schedule_is_cancelled_and_created_again(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Changing every plans an update naming the change; apply cancels the old, creates anew."""
    ws.change("alpha", schedules=(HOURLY,))
    apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    old = by_label(deployed, desired(ws, "alpha", HOURLY).label)
    faster = WorkerSchedule("hourly", every=1800, payload={"kind": "hourly"})
    ws.change("alpha", schedules=(faster,))
    new = desired(ws, "alpha", faster)
    plan = planned(deployed, ws)
    assert plan == with_schedules(
        make_plan(deployed, ws.manifest),
        alpha=(
            SchedulePlan(
                "hourly",
                "update",
                ("every 1h → 30m",),
                desired=new,
                remote=old,
                cancel=(old,),
                create=True,
            ),
        ),
    )
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    made = by_label(deployed, new.label)
    assert result.results[0].schedules == (
        ScheduleResult("hourly", "update", "replaced", made.id, (old.id,)),
    )
    assert deployed.get_schedule(old.id).status == "cancelled"
    assert deployed.schedule_calls[-2:] == [f"cancel {old.id}", f"create {new.label}"]


def test_changes_of_every_field_are_named(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Times, counts, priority, timeout and payload each say what changed (payload: no value)."""
    ws.change("alpha", schedules=(NIGHTLY,))
    apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    changed = WorkerSchedule(
        "nightly",
        every=86400,
        start_at="2030-01-02T03:00:00Z",
        end_at="2031-01-01T00:00:00Z",
        run_times=5,
        payload={"secret_plan": 1},
        priority=2,
        timeout=60,
    )
    ws.change("alpha", schedules=(changed,))
    (sp,) = planned(deployed, ws).workers[0].schedules
    assert sp.changes == (
        "start_at 2030-01-01T03:00:00Z → 2030-01-02T03:00:00Z",
        "end_at unset → 2031-01-01T00:00:00Z",
        "run_times unset → 5",
        "priority unset → 2",
        "timeout unset → 60",
        "payload changed",
    )


def test_a_schedule_removed_from_the_manifest_is_cancelled(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """ironship's own schedule no longer declared is planned as a delete and cancelled."""
    ws.change("alpha", schedules=(HOURLY, NIGHTLY))
    apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    nightly = by_label(deployed, desired(ws, "alpha", NIGHTLY).label)
    hourly = desired(ws, "alpha", HOURLY)
    ws.change("alpha", schedules=(HOURLY,))
    plan = planned(deployed, ws)
    assert plan == with_schedules(
        make_plan(deployed, ws.manifest),
        alpha=(
            SchedulePlan(
                "hourly", "unchanged", desired=hourly, remote=by_label(deployed, hourly.label)
            ),
            SchedulePlan(
                "nightly", "delete", ("not in the manifest",), remote=nightly, cancel=(nightly,)
            ),
        ),
    )
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    assert result.results[0].schedules[1] == ScheduleResult(
        "nightly", "delete", "cancelled", cancelled=(nightly.id,)
    )
    assert deployed.get_schedule(nightly.id).status == "cancelled"
    assert not planned(deployed, ws).has_changes  # a cancelled schedule is history


def test_schedules_ironship_did_not_create_are_orphans_left_alone(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """A schedule made by another tool is listed as an orphan, and apply does not touch it."""
    other = deployed.get_schedule(deployed.add_schedule(code_name="beta", run_every=600))
    labelled = deployed.get_schedule(
        deployed.add_schedule(code_name="beta", run_every=600, label="team-report")
    )
    plan = planned(deployed, ws)
    why = ("not created by ironship; left alone",)
    assert plan == with_schedules(
        make_plan(deployed, ws.manifest),
        beta=(
            SchedulePlan(other.id, "orphan", why, remote=other),
            SchedulePlan("team-report", "orphan", why, remote=labelled),
        ),
    )
    assert not plan.has_changes and plan.schedule_summary["orphan"] == 2
    calls = len(deployed.schedule_calls)
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    assert result.results[1].schedules == (
        ScheduleResult(other.id, "orphan", "orphan", other.id),
        ScheduleResult("team-report", "orphan", "orphan", labelled.id),
    )
    assert len(deployed.schedule_calls) == calls


def test_prune_cancels_orphan_schedules(ws: Workspace, deployed: FakeIron, tmp_path: Path) -> None:
    """With --prune an orphan schedule is planned as a delete and cancelled."""
    other = deployed.get_schedule(deployed.add_schedule(code_name="beta", run_every=600))
    plan = planned(deployed, ws, prune=True)
    why = ("not created by ironship; --prune cancels it",)
    assert plan == with_schedules(
        make_plan(deployed, ws.manifest, prune=True),
        beta=(SchedulePlan(other.id, "delete", why, remote=other, cancel=(other,)),),
    )
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    assert result.results[1].schedules == (
        ScheduleResult(other.id, "delete", "cancelled", cancelled=(other.id,)),
    )
    assert deployed.get_schedule(other.id).status == "cancelled"


def test_an_orphan_worker_keeps_its_schedules_unless_pruned(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Schedules of a worker not in the manifest are orphans; --prune cancels them, then
    deletes the worker."""
    deployed.upload_code({"name": "stray", "runtime": "sh"}, None)
    sid = deployed.add_schedule(code_name="stray", run_every=600, label="ironship:stray/x:ab12")
    stray = deployed.get_schedule(sid)
    kept = planned(deployed, ws)
    why = "its worker is not in the manifest"
    assert kept.workers[2].schedules == (
        SchedulePlan(stray.label or "", "orphan", (f"{why}; left alone",), remote=stray),
    )
    pruned = planned(deployed, ws, prune=True)
    assert pruned.workers[2].schedules == (
        SchedulePlan(
            stray.label or "",
            "delete",
            (f"{why}; --prune cancels it",),
            remote=stray,
            cancel=(stray,),
        ),
    )
    result = apply_plan(deployed, pruned, build_dir=tmp_path / "build")
    assert result.results[2] == WorkerResult(
        "stray",
        "delete",
        "deleted",
        previous_rev=1,
        schedules=(ScheduleResult(stray.label or "", "delete", "cancelled", cancelled=(sid,)),),
    )
    assert deployed.schedule_calls[-1] == f"cancel {sid}"


def test_a_new_workers_schedule_is_created_after_its_upload(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """A worker created by this apply gets its schedule once its code is on the server."""
    ws.change("beta", schedules=(HOURLY,))
    plan = planned(server, ws, only=["beta"])
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    made = by_label(server, desired(ws, "beta", HOURLY).label)
    assert result == ApplyResult(
        plan,
        (
            WorkerResult(
                "beta",
                "create",
                "created",
                rev=1,
                code_uploaded=True,
                schedules=(ScheduleResult("hourly", "create", "created", made.id),),
            ),
        ),
    )


def test_no_schedule_for_a_worker_whose_upload_failed(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """When the upload fails, the worker's schedule is skipped and never created."""
    ws.change("beta", schedules=(HOURLY,))
    server.fail_uploads.add("beta")
    plan = planned(server, ws, only=["beta"])
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    (res,) = result.results
    assert res.outcome == "failed"
    assert res.schedules == (
        ScheduleResult("hourly", "create", "skipped", message="the worker's upload failed"),
    )
    assert server.list_schedules() == []


def test_a_failed_schedule_fails_its_worker(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """A schedule the server refuses fails the worker: exit 1 alone, 5 beside an upload."""
    ws.change("alpha", schedules=(HOURLY,))
    deployed.fail_schedules.add("hourly")
    plan = planned(deployed, ws)
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    why = "creating it failed: POST /schedules failed (400): injected failure for hourly"
    assert result.results[0] == WorkerResult(
        "alpha",
        "unchanged",
        "failed",
        1,
        1,
        message=f"schedule hourly: {why}",
        schedules=(ScheduleResult("hourly", "create", "failed", message=why),),
    )
    assert apply_exit_code(result) == exitcodes.ERROR
    (ws.root / "workers" / "beta" / "main.py").write_text("print(3)\n")
    both = apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    assert [r.outcome for r in both.results] == ["failed", "updated"]
    assert apply_exit_code(both) == exitcodes.PARTIAL


def test_a_server_that_drops_labels_fails_and_leaves_no_schedule(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Without its label a schedule could not be recognised: it is cancelled and fails."""
    ws.change("alpha", schedules=(HOURLY,))
    deployed.drop_labels = True
    result = apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    (res,) = result.results[0].schedules
    assert res.outcome == "failed" and "did not keep the schedule's label" in (res.message or "")
    assert [s.status for s in deployed.list_schedules()] == ["cancelled"]


def test_a_one_off_that_ran_is_not_created_again(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """A complete schedule still stands for its declaration; removed, it is simply history."""
    once = WorkerSchedule("once", start_at="2030-01-01T00:00:00Z")
    ws.change("alpha", schedules=(once,))
    apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    made = by_label(deployed, desired(ws, "alpha", once).label)
    deployed.set_schedule_status(made.id, "complete")
    (sp,) = planned(deployed, ws).workers[0].schedules
    assert (sp.action, sp.changes_server) == ("unchanged", False)
    ws.change("alpha", schedules=())
    assert planned(deployed, ws).workers[0].schedules == ()


def test_duplicates_of_a_declared_schedule_are_cancelled(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Two live schedules under one declared name: the newest is kept, the other cancelled."""
    ws.change("alpha", schedules=(HOURLY,))
    hourly = desired(ws, "alpha", HOURLY)
    first = deployed.add_schedule(code_name="alpha", run_every=3600, label=hourly.label)
    second = deployed.add_schedule(code_name="alpha", run_every=3600, label=hourly.label)
    (sp,) = planned(deployed, ws).workers[0].schedules
    assert (sp.action, sp.remote, sp.cancel, sp.create) == (
        "update",
        deployed.get_schedule(second),
        (deployed.get_schedule(first),),
        False,
    )
    apply_plan(deployed, planned(deployed, ws), build_dir=tmp_path / "build")
    assert deployed.get_schedule(first).status == "cancelled"
    assert not planned(deployed, ws).has_changes


def test_with_only_other_workers_schedules_are_not_planned(
    ws: Workspace, deployed: FakeIron
) -> None:
    """--only leaves the schedules of workers outside the selection alone."""
    deployed.add_schedule(code_name="beta", run_every=600)
    plan = planned(deployed, ws, only=["alpha"], prune=True)
    assert [(w.name, w.schedules) for w in plan.workers] == [("alpha", ())]


def test_a_source_without_schedules_leaves_the_plan_as_it_is(ws: Workspace) -> None:
    """A server connection that cannot list schedules plans the code alone."""

    class CodesOnly:
        def list_codes(self) -> list[Any]:
            return []

    plan = make_plan(FakeIron(), ws.manifest)
    assert plan_schedules(CodesOnly(), ws.manifest, plan) is plan


def test_the_client_and_the_fake_fill_the_schedule_port() -> None:
    """Client and FakeIron satisfy ScheduleStore (mypy checks the assignment; isinstance too)."""
    client = Client("http://127.0.0.1:9", "project", "token")
    stores: list[ScheduleStore] = [client, FakeIron()]
    assert all(isinstance(s, ScheduleStore) for s in stores)
    client.close()


class CodesOnly:
    """A connection to ``server`` with its code calls and no schedule calls (as a port)."""

    def __init__(self, server: FakeIron) -> None:
        self.server = server

    def list_codes(self) -> list[Code]:
        return self.server.list_codes()

    def get_code(self, code_id: str) -> Code:
        return self.server.get_code(code_id)

    def download_code(self, code_id: str, dest: Path, revision: int | None = None) -> Path:
        return self.server.download_code(code_id, dest, revision)

    def upload_code(self, data: Mapping[str, Any], zip_path: Path | None) -> str:
        return self.server.upload_code(data, zip_path)

    def delete_code(self, code_id: str) -> None:
        self.server.delete_code(code_id)


def test_schedule_changes_fail_on_a_connection_without_schedules(
    ws: Workspace, deployed: FakeIron, tmp_path: Path
) -> None:
    """Applying a schedule through a connection that cannot make one fails that worker."""
    ws.change("alpha", schedules=(HOURLY,))
    plan = planned(deployed, ws)
    result = apply_plan(CodesOnly(deployed), plan, build_dir=tmp_path / "build")
    why = "this server connection cannot manage schedules"
    assert result.results[0].schedules == (
        ScheduleResult("hourly", "create", "failed", message=why),
    )
    assert result.results[0].outcome == "failed"


def test_a_conflicting_worker_gets_no_schedule(
    ws: Workspace, deployed: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """When another deploy changed the worker since the plan, its schedules are skipped."""
    ws.change("alpha", schedules=(HOURLY,))
    plan = planned(deployed, ws)
    uploader.upload(deployed, ws.desired("alpha"))  # another deploy: revision 2
    result = apply_plan(deployed, plan, build_dir=tmp_path / "build")
    assert result.results[0].outcome == "conflict"
    assert result.results[0].schedules == (
        ScheduleResult(
            "hourly", "create", "skipped", message="the worker changed on the server since the plan"
        ),
    )
    assert deployed.list_schedules() == []
