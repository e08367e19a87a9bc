"""Recording a passing smoke run (deploy/smokepass.py), directly and through run_apply, on the
in-memory server."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import PASSES, Uploader, Workspace, prints, smoke_test

from ironship.deploy.pipeline import ApplyHooks, ApplyRequest, run_apply
from ironship.deploy.planner import make_plan
from ironship.deploy.smokepass import (
    SMOKE_PASSED_KEY,
    passing_workers,
    record_smoke_passes,
    smoke_passed,
)
from ironship.deploy.stamps import SMOKE_KEY
from ironship.smoke.runner import SmokeResult

ALSO_PASSES = smoke_test("prints-1-again", 1)
FAILS = smoke_test("prints-2", 2)


def yes(question: str, what: str) -> bool:
    return True


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """alpha passes both its tests; gamma fails one of its two; beta declares none."""
    space = Workspace(tmp_path / "project")
    space.worker("alpha", {"main.py": prints("1")}, smoke=(PASSES, ALSO_PASSES))
    space.worker("beta", {"main.py": prints("2")})
    space.worker("gamma", {"main.py": prints("1")}, smoke=(PASSES, FAILS))
    return space


def result(worker: str, passed: bool) -> SmokeResult:
    return SmokeResult(worker, "t", passed, "complete", 0.01, None, (), None, None)


def env_of(server: FakeIron, name: str) -> dict[str, str]:
    (code,) = [c for c in server.list_codes() if c.name == name]
    return dict(code.env_vars)


def test_passing_workers_are_those_whose_every_test_passed() -> None:
    """One failure among a worker's results keeps it out; order is first appearance."""
    results = [result("b", True), result("a", True), result("b", False), result("a", True)]
    assert passing_workers(results) == ("a",)
    assert passing_workers([]) == ()


def test_smoke_passed_wants_the_very_tests_the_revision_carries() -> None:
    """A pass counts only for the smoke digest it names."""
    assert smoke_passed({SMOKE_KEY: "s1", SMOKE_PASSED_KEY: "s1"})
    assert not smoke_passed({SMOKE_KEY: "s2", SMOKE_PASSED_KEY: "s1"})
    assert not smoke_passed({SMOKE_PASSED_KEY: "s1"}) and not smoke_passed({})


def test_apply_smoke_records_passes_only(ws: Workspace) -> None:
    """Without rollback, alpha (all passed) gets a settings-only revision with the pass, same
    checksum; gamma (one failed) and beta (no tests) get nothing; the plan stays empty."""
    server = FakeIron()
    outcome = run_apply(
        server, ws.manifest, ApplyRequest(smoke="changed", parallelism=1), ApplyHooks(yes)
    )
    assert outcome.exit_code == 3 and outcome.smoke is not None
    assert outcome.smoke.recorded == {"alpha": "recorded as revision 2"}
    assert server.revs("alpha") == [1, 2] and server.revs("gamma") == [1]
    (first, second) = server.revisions[server.list_codes()[0].id]
    assert second.latest_checksum == first.latest_checksum
    assert second.env_vars == {**first.env_vars, SMOKE_PASSED_KEY: first.env_vars[SMOKE_KEY]}
    assert SMOKE_PASSED_KEY not in env_of(server, "gamma")
    assert not make_plan(server, ws.manifest).has_changes


def test_a_rollback_records_nothing(ws: Workspace, tmp_path: Path) -> None:
    """When a failure rolls the apply back, no worker's pass is recorded, passing ones neither."""
    server = FakeIron()
    uploader = Uploader(tmp_path / "uploads")
    for name in ("alpha", "gamma"):
        uploader.upload(server, ws.desired(name))
    for name in ("alpha", "gamma"):
        (ws.root / "workers" / name / "lib.py").write_text("X = 1\n")
    request = ApplyRequest(smoke="changed", rollback=True, parallelism=1)
    outcome = run_apply(server, ws.manifest, request, ApplyHooks(yes))
    assert outcome.smoke is not None and outcome.smoke.rollback is not None
    assert outcome.smoke.recorded == {}
    assert SMOKE_PASSED_KEY not in env_of(server, "alpha")


def test_a_second_run_finds_the_pass_recorded(ws: Workspace) -> None:
    """apply --smoke=all again: alpha's pass is there already, so no revision is added."""
    server = FakeIron()
    run_apply(server, ws.manifest, ApplyRequest(smoke="all"), ApplyHooks(yes))
    outcome = run_apply(server, ws.manifest, ApplyRequest(smoke="all"), ApplyHooks(yes))
    assert outcome.smoke is not None
    assert outcome.smoke.recorded == {"alpha": "already recorded on revision 2"}
    assert server.revs("alpha") == [1, 2]


def test_another_revision_on_the_server_is_not_recorded(ws: Workspace, tmp_path: Path) -> None:
    """A revision uploaded by another deploy after the tests ran is left alone."""
    server = FakeIron()
    plan = make_plan(server, ws.manifest)
    Uploader(tmp_path / "uploads").upload(server, ws.desired("beta"))
    (ws.root / "workers" / "alpha" / "main.py").write_text(prints("9"))
    Uploader(tmp_path / "uploads").upload(server, ws.desired("alpha"))
    assert record_smoke_passes(server, plan, ("alpha", "beta")) == {
        "alpha": "not recorded: the server holds another revision than the one tested",
        "beta": "not recorded: the worker is not on the server as planned",
    }
    assert server.revs("alpha") == [1]


def test_a_failed_recording_is_reported_not_raised(ws: Workspace) -> None:
    """The server refusing the settings-only upload: the tests still passed, the apply exits 0
    for alpha's part, and the outcome says why nothing was recorded."""
    server = FakeIron()
    run_apply(server, ws.manifest, ApplyRequest(only=("alpha",)), ApplyHooks(yes))
    server.fail_uploads.add("alpha")
    outcome = run_apply(
        server, ws.manifest, ApplyRequest(only=("alpha",), smoke="all"), ApplyHooks(yes)
    )
    assert outcome.exit_code == 0 and outcome.smoke is not None
    assert outcome.smoke.recorded == {
        "alpha": "not recorded: POST /codes failed (400): injected failure for alpha"
    }
