"""run_apply and run_tests on the in-memory server: each case compares the whole outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import PASSES, Uploader, Workspace, alpha_tested, prints

from ironship.deploy.executor import apply_plan
from ironship.deploy.models import ApplyOutcome, ApplyResult, SmokeOutcome, WorkerResult
from ironship.deploy.pipeline import (
    ApplyHooks,
    ApplyRequest,
    run_apply,
    run_tests,
    smoke_cases,
)
from ironship.deploy.planner import make_plan
from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.smoke.expectations import check
from ironship.smoke.runner import SmokeResult


class Recorder:
    """Hooks that answer ``approve`` to every question and record what the pipeline shows."""

    def __init__(self, approve: bool | list[bool] = True) -> None:
        self.answers = approve if isinstance(approve, list) else None
        self.approve = approve is True
        self.asked: list[str] = []
        self.events: list[str] = []
        self.stamped: list[str] = []

    def confirm(self, question: str, what: str) -> bool:
        self.asked.append(what)
        return self.answers.pop(0) if self.answers is not None else self.approve

    def stamps(self, worker: Worker) -> dict[str, str]:
        self.stamped.append(worker.name)
        return {"IRONSHIP_GIT_SHA": f"sha-of-{worker.name}"}

    def hooks(self) -> ApplyHooks:
        return ApplyHooks(
            confirm=self.confirm,
            on_plan=lambda p: self.events.append(f"plan {p.summary}"),
            on_upload_start=lambda n: self.events.append(f"uploading {n}"),
            on_uploaded=lambda r: self.events.append(f"uploaded {r.name}"),
            on_applied=lambda r: self.events.append(f"applied {len(r.changed)}"),
            on_smoke_start=lambda n: self.events.append(f"smoke {n}"),
            on_smoke_result=lambda r: self.events.append(f"result {r.test}"),
        )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return alpha_tested(tmp_path / "project")


def passed(server: FakeIron, worker: str, test: str) -> SmokeResult:
    """The passing result of the one task queued for ``worker``."""
    (task_id,) = [t.id for t in server.tasks.values() if t.code_name == worker]
    return SmokeResult(worker, test, True, "complete", 0.01, task_id, (), None, None)


def applied_plan(server: FakeIron, ws: Workspace, tmp_path: Path) -> ApplyResult:
    """What applying the workspace's current plan gives (the expected ``applied`` value)."""
    return apply_plan(server, make_plan(server, ws.manifest), build_dir=tmp_path / "expected")


def test_a_first_apply_uploads_and_smoke_tests_the_changed_workers(
    ws: Workspace, server: FakeIron
) -> None:
    """Create both workers, then run the smoke tests of the changed ones: exit 0."""
    rec = Recorder()
    outcome = run_apply(
        server,
        ws.manifest,
        ApplyRequest(smoke="changed", parallelism=1),
        rec.hooks(),
        stamps=rec.stamps,
    )
    plan = outcome.plan
    assert outcome == ApplyOutcome(
        plan,
        ApplyResult(
            plan,
            (
                WorkerResult("alpha", "create", "created", rev=1, code_uploaded=True),
                WorkerResult("beta", "create", "created", rev=1, code_uploaded=True),
            ),
        ),
        0,
        SmokeOutcome(
            (passed(server, "alpha", "prints-1"),), 0, recorded={"alpha": "recorded as revision 2"}
        ),
    )
    assert rec.asked == ["apply"]
    assert rec.events == [
        "plan {'create': 2, 'update': 0, 'delete': 0, 'unchanged': 0, 'orphan': 0}",
        "uploading 2",
        "uploaded alpha",
        "uploaded beta",
        "applied 2",
        "smoke 1",
        "result prints-1",
    ]
    assert rec.stamped == ["alpha", "beta"]
    # Each upload carries its own worker's git stamp, not one commit for the whole manifest.
    for code in server.list_codes():
        assert server.data[code.id]["env_vars"]["IRONSHIP_GIT_SHA"] == f"sha-of-{code.name}"


def test_nothing_changed_asks_nothing_and_uploads_nothing(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """With no changes there is no question, no stamp read and no smoke test for --smoke."""
    run_apply(server, ws.manifest, ApplyRequest(), Recorder().hooks())
    rec = Recorder(approve=False)
    outcome = run_apply(
        server, ws.manifest, ApplyRequest(smoke="changed"), rec.hooks(), stamps=rec.stamps
    )
    assert outcome == ApplyOutcome(
        outcome.plan, applied_plan(server, ws, tmp_path), 0, SmokeOutcome((), 0)
    )
    assert not outcome.plan.has_changes
    assert (rec.asked, rec.stamped) == ([], [])
    assert server.revs("alpha") == [1]


def test_smoke_all_tests_unchanged_workers_too(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """--smoke=all runs every planned worker's tests even when nothing changed."""
    run_apply(server, ws.manifest, ApplyRequest(), Recorder().hooks())
    expected = applied_plan(server, ws, tmp_path)  # before the pass is recorded (revision 2)
    outcome = run_apply(server, ws.manifest, ApplyRequest(smoke="all"), Recorder().hooks())
    assert outcome == ApplyOutcome(
        outcome.plan,
        expected,
        0,
        SmokeOutcome(
            (passed(server, "alpha", "prints-1"),), 0, recorded={"alpha": "recorded as revision 2"}
        ),
    )


def test_a_refused_confirmation_changes_nothing(ws: Workspace, server: FakeIron) -> None:
    """Saying no to the apply question ends with exit 1 and an untouched server."""
    outcome = run_apply(server, ws.manifest, ApplyRequest(), Recorder(approve=False).hooks())
    assert outcome == ApplyOutcome(outcome.plan, None, 1)
    assert outcome.cancelled and server.list_codes() == []


def test_prune_asks_a_second_time(ws: Workspace, server: FakeIron) -> None:
    """Deleting orphans needs its own yes; a no there cancels the whole apply."""
    server.upload_code({"name": "stray", "runtime": "sh"}, None)
    rec = Recorder(approve=[True, False])
    outcome = run_apply(server, ws.manifest, ApplyRequest(prune=True), rec.hooks())
    assert outcome == ApplyOutcome(outcome.plan, None, 1)
    assert rec.asked == ["apply", "--prune"]
    assert [c.name for c in server.list_codes()] == ["stray"]


def test_a_partial_failure_exits_5_and_skips_the_smoke_tests(
    ws: Workspace, server: FakeIron
) -> None:
    """One refused upload: the other worker deploys, exit 5, and no smoke test runs."""
    server.fail_uploads.add("beta")
    request = ApplyRequest(smoke="all", rollback=True, parallelism=1)
    outcome = run_apply(server, ws.manifest, request, Recorder().hooks())
    plan = outcome.plan
    assert outcome == ApplyOutcome(
        plan,
        ApplyResult(
            plan,
            (
                WorkerResult("alpha", "create", "created", rev=1, code_uploaded=True),
                WorkerResult(
                    "beta",
                    "create",
                    "failed",
                    message="POST /codes failed (400): injected failure for beta",
                ),
            ),
        ),
        5,
        smoke_skipped=True,
    )
    assert server.queued == []


def test_every_upload_failing_exits_1(ws: Workspace, server: FakeIron) -> None:
    """When no upload works at all, the exit code is 1, not 5."""
    server.fail_uploads.update({"alpha", "beta"})
    outcome = run_apply(server, ws.manifest, ApplyRequest(smoke="changed"), Recorder().hooks())
    assert (outcome.exit_code, outcome.smoke, outcome.smoke_skipped) == (1, None, True)


def test_a_failing_smoke_test_rolls_the_changed_worker_back(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """A smoke failure after an update exits 3 and puts the previous package back."""
    v1 = Uploader(tmp_path / "uploads").upload(server, ws.desired("alpha"))
    (ws.root / "workers" / "alpha" / "main.py").write_text(prints("2"))
    request = ApplyRequest(only=("alpha",), smoke="changed", rollback=True)
    outcome = run_apply(server, ws.manifest, request, Recorder().hooks())
    plan = outcome.plan
    (task_id,) = server.tasks
    log = server.logs[task_id]
    failures = tuple(check(PASSES, "complete", log, 0.01))
    assert outcome == ApplyOutcome(
        plan,
        ApplyResult(
            plan,
            (
                WorkerResult(
                    "alpha", "update", "updated", rev=2, previous_rev=1, code_uploaded=True
                ),
            ),
        ),
        3,
        SmokeOutcome(
            (
                SmokeResult(
                    "alpha",
                    "prints-1",
                    False,
                    "complete",
                    0.01,
                    task_id,
                    failures,
                    log.strip(),
                    None,
                ),
            ),
            3,
            {"alpha": "rolled back to revision 1 (uploaded again as revision 3)"},
        ),
    )
    assert failures and server.get_code(v1.id).latest_checksum == v1.latest_checksum


def test_without_rollback_a_failing_smoke_test_leaves_the_new_package(
    ws: Workspace, server: FakeIron
) -> None:
    """Without --rollback-on-failure the smoke failure exits 3 and nothing is restored."""
    (ws.root / "workers" / "alpha" / "main.py").write_text(prints("2"))
    outcome = run_apply(server, ws.manifest, ApplyRequest(smoke="changed"), Recorder().hooks())
    assert outcome.smoke is not None
    assert (outcome.exit_code, outcome.smoke.exit_code, outcome.smoke.rollback) == (3, 3, None)
    assert server.revs("alpha") == [1]


def test_run_tests_checks_what_is_deployed(ws: Workspace, server: FakeIron) -> None:
    """`ironship test` runs the declared tests against the deployed code; a lost code exits 1."""
    run_apply(server, ws.manifest, ApplyRequest(), Recorder().hooks())
    cases = smoke_cases(ws.manifest.workers)
    assert run_tests(server, cases) == SmokeOutcome((passed(server, "alpha", "prints-1"),), 0)
    server.delete_code(server.list_codes()[0].id)
    outcome = run_tests(server, cases)
    assert outcome.exit_code == 1
    assert outcome.results[0].reason == (
        "could not queue the task: POST /tasks failed (404): Code not found: alpha"
    )


def dirty_stamps(worker: Worker) -> dict[str, str]:
    """alpha's files differ from their commit; beta's do not."""
    dirty = "1" if worker.name == "alpha" else "0"
    return {"IRONSHIP_GIT_SHA": f"sha-of-{worker.name}", "IRONSHIP_GIT_DIRTY": dirty}


def test_in_ci_a_dirty_worker_stops_the_apply_before_any_question_or_upload(
    ws: Workspace, server: FakeIron
) -> None:
    """With refuse_dirty (CI), a dirty worker to upload is named with the flag; nothing moves."""
    rec = Recorder()
    request = ApplyRequest(refuse_dirty=True)
    with pytest.raises(IronshipError) as caught:
        run_apply(server, ws.manifest, request, rec.hooks(), stamps=dirty_stamps)
    assert caught.value.message.startswith(
        "CI is set: refusing to upload from a dirty tree: alpha ("
    )
    assert "--allow-dirty" in (caught.value.hint or "")
    assert (rec.asked, server.list_codes()) == ([], [])


def test_dirty_workers_upload_when_allowed_and_unchanged_ones_never_block(
    ws: Workspace, server: FakeIron
) -> None:
    """Without refuse_dirty a dirty stamp uploads; an unchanged dirty worker never blocks."""
    first = run_apply(server, ws.manifest, ApplyRequest(), Recorder().hooks(), stamps=dirty_stamps)
    assert first.exit_code == 0
    (alpha,) = [c for c in server.list_codes() if c.name == "alpha"]
    assert alpha.env_vars["IRONSHIP_GIT_DIRTY"] == "1"
    (ws.root / "workers" / "beta" / "main.py").write_text(prints("3"))
    again = run_apply(
        server,
        ws.manifest,
        ApplyRequest(refuse_dirty=True),
        Recorder().hooks(),
        stamps=dirty_stamps,
    )
    assert again.applied is not None
    assert [r.name for r in again.applied.changed] == ["beta"]
