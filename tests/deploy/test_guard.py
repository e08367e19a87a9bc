"""Two deploys at once on the in-memory server: the re-read before each upload, conflicts,
``continue_on_error=False`` and the exit-code rule (deploy/guard.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace, prints

from ironship import exitcodes
from ironship.deploy.executor import apply_plan
from ironship.deploy.guard import apply_exit_code, describe_revision
from ironship.deploy.models import ApplyResult, Outcome, Plan, WorkerResult
from ironship.deploy.planner import make_plan
from ironship.deploy.render import apply_json, result_rows, result_summary
from ironship.deploy.settings import upload_data
from ironship.iron.types import Code
from ironship.packaging.archive import write_zip

AGAIN = "another deploy got there first; run plan again"
OTHER = {"IRONSHIP_GIT_SHA": "0123456789abcdef", "IRONSHIP_CI_URL": "https://ci.example/run/7"}


def other_deploy(server: FakeIron, ws: Workspace, name: str, tmp_path: Path) -> Code:
    """What a second ironship deploy of ``name``, from a CI run, leaves on the server."""
    zip_path = tmp_path / "other" / f"{name}.zip"
    write_zip(ws.desired(name).fileset, zip_path)
    return server.get_code(server.upload_code(upload_data(ws.desired(name), OTHER), zip_path))


class Recording(FakeIron):
    """The fake server, logging this apply's code calls; ``after_upload`` runs after each
    upload, and what it does is not logged (it stands for another deploy)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.logging = True
        self.after_upload: Callable[[str], None] = lambda name: None

    def _log(self, call: str) -> None:
        if self.logging:
            self.calls.append(call)

    def list_codes(self) -> list[Code]:
        self._log("list")
        return super().list_codes()

    def get_code(self, code_id: str) -> Code:
        code = super().get_code(code_id)
        self._log(f"get {code.name}")
        return code

    def upload_code(self, data: Mapping[str, Any], zip_path: Path | None) -> str:
        self._log(f"upload {data['name']}")
        code_id = super().upload_code(data, zip_path)
        if self.logging:
            self.logging = False
            self.after_upload(str(data["name"]))
            self.logging = True
        return code_id


def test_a_worker_another_deploy_uploaded_after_the_plan_is_left_alone(
    ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """A worker uploaded by someone else since the plan conflicts (its revision and stamps
    named) and keeps their revision, while the other worker still deploys; exit code 4."""
    uploader.upload(server, ws.desired("alpha"))
    (ws.root / "workers" / "alpha" / "main.py").write_text(prints("mine"))
    plan = make_plan(server, ws.manifest)
    theirs = other_deploy(server, ws, "alpha", tmp_path)
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    message = (
        "the server has revision 2 (git 0123456, CI https://ci.example/run/7), "
        f"but this plan was made against revision 1; {AGAIN}"
    )
    assert result == ApplyResult(
        plan,
        (
            WorkerResult("alpha", "update", "conflict", rev=2, previous_rev=1, message=message),
            WorkerResult("beta", "create", "created", rev=1, code_uploaded=True),
        ),
    )
    assert server.get_code(theirs.id) == theirs
    assert apply_exit_code(result) == exitcodes.CONFLICT


def test_a_planned_create_that_now_exists_conflicts(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """A worker planned as new but created by another deploy meanwhile is not uploaded over."""
    plan = make_plan(server, ws.manifest, only=["beta"])
    theirs = other_deploy(server, ws, "beta", tmp_path)
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    message = (
        "created on the server after this plan: revision 1 (git 0123456, CI "
        f"https://ci.example/run/7); {AGAIN}"
    )
    assert result.results == (WorkerResult("beta", "create", "conflict", 1, None, False, message),)
    assert server.revs("beta") == [1] and server.get_code(theirs.id) == theirs
    assert apply_exit_code(result) == exitcodes.CONFLICT


def test_a_code_deleted_since_the_plan_is_a_conflict_not_a_new_create(
    ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """An update whose code was deleted meanwhile is not recreated behind the deleter's back."""
    before = uploader.upload(server, ws.desired("alpha"))
    ws.change("alpha", max_concurrency=9)
    plan = make_plan(server, ws.manifest, only=["alpha"])
    server.delete_code(before.id)
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    message = f"deleted from the server after this plan (planned against revision 1); {AGAIN}"
    assert result.results == (WorkerResult("alpha", "update", "conflict", None, 1, False, message),)
    assert server.list_codes() == []


def test_each_worker_is_read_again_right_before_its_own_upload(
    ws: Workspace, tmp_path: Path
) -> None:
    """The re-read happens per worker just before its POST, so a deploy that lands between two
    of this apply's uploads is still caught (one GET or list, then the upload)."""
    server = Recording()
    Uploader(tmp_path / "seed").upload(server, ws.desired("beta"))
    (ws.root / "workers" / "beta" / "main.py").write_text(prints("mine"))
    plan = make_plan(server, ws.manifest)

    def sneak_in(name: str) -> None:
        if name == "alpha":  # another deploy of beta, between this apply's two workers
            other_deploy(server, ws, "beta", tmp_path)

    server.after_upload = sneak_in
    server.calls.clear()
    result = apply_plan(server, plan, build_dir=tmp_path / "build", parallelism=1)
    assert [r.outcome for r in result.results] == ["created", "conflict"]
    # alpha: one list (a planned create has no id yet), its upload; beta: one GET, no upload;
    # then the read-back of what was uploaded.
    assert server.calls == ["list", "upload alpha", "get beta", "list"]


def test_continue_on_error_off_skips_the_workers_not_started(
    ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """With continue_on_error=False the first conflict stops the apply: the rest is skipped."""
    ws.worker("gamma", {"main.py": prints("3")})
    uploader.upload(server, ws.desired("alpha"))
    ws.change("alpha", max_concurrency=9)
    plan = make_plan(server, ws.manifest)
    other_deploy(server, ws, "alpha", tmp_path)
    result = apply_plan(
        server, plan, build_dir=tmp_path / "build", parallelism=1, continue_on_error=False
    )
    why = "not started: an earlier worker failed or conflicted (continue_on_error is off)"
    assert [(r.name, r.outcome) for r in result.results] == [
        ("alpha", "conflict"),
        ("beta", "skipped"),
        ("gamma", "skipped"),
    ]
    assert result.skipped[0] == WorkerResult("beta", "create", "skipped", message=why)
    assert {c.name for c in server.list_codes()} == {"alpha"}
    assert apply_exit_code(result) == exitcodes.CONFLICT


def test_continue_on_error_off_stops_after_a_failure_too(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """A failed upload also stops the apply when told to; nothing uploaded gives exit code 1."""
    server.fail_uploads.add("alpha")
    plan = make_plan(server, ws.manifest)
    stopped = apply_plan(
        server, plan, build_dir=tmp_path / "b1", parallelism=1, continue_on_error=False
    )
    assert [r.outcome for r in stopped.results] == ["failed", "skipped"]
    assert apply_exit_code(stopped) == exitcodes.ERROR
    carried_on = apply_plan(server, plan, build_dir=tmp_path / "b2", parallelism=1)
    assert [r.outcome for r in carried_on.results] == ["failed", "created"]


def result_of(*outcomes: Outcome) -> ApplyResult:
    """An ApplyResult whose workers ended with ``outcomes``."""
    rows = tuple(WorkerResult(f"w{i}", "update", o) for i, o in enumerate(outcomes))
    return ApplyResult(Plan(()), rows)


def test_the_exit_code_rule() -> None:
    """Any conflict gives 4, unless a worker failed: then 5 (some uploaded) or 1 (none)."""
    cases: dict[tuple[Outcome, ...], int] = {
        ("updated", "unchanged"): exitcodes.OK,
        ("updated", "conflict"): exitcodes.CONFLICT,
        ("conflict", "skipped"): exitcodes.CONFLICT,
        ("updated", "conflict", "failed"): exitcodes.PARTIAL,
        ("conflict", "failed", "skipped"): exitcodes.ERROR,
        ("updated", "failed"): exitcodes.PARTIAL,
    }
    assert {k: apply_exit_code(result_of(*k)) for k in cases} == cases


def test_results_render_conflicts_and_skips() -> None:
    """The result table shows a conflict's message as not uploaded, the JSON counts outcomes."""
    result = ApplyResult(
        Plan(()),
        (
            WorkerResult("a", "update", "conflict", 3, 2, message="the server has revision 3"),
            WorkerResult("b", "create", "skipped", message="not started"),
            WorkerResult("c", "update", "updated", 4, 3, True),
        ),
    )
    assert result_rows(result) == [
        ("a", "update", "conflict", "not uploaded: the server has revision 3"),
        ("b", "create", "skipped", "not started"),
        ("c", "update", "updated", "rev 3 → rev 4 (code + settings)"),
    ]
    assert result_summary(result) == "1 updated, 1 conflict, 1 skipped."
    doc = apply_json(result, "local")
    assert doc["outcomes"] == {
        "created": 0,
        "updated": 1,
        "deleted": 0,
        "unchanged": 0,
        "orphan": 0,
        "failed": 0,
        "conflict": 1,
        "skipped": 1,
        "unverified": 0,
    }
    assert [(r["outcome"], r["rev"], r["previous_rev"]) for r in doc["results"]] == [
        ("conflict", 3, 2),
        ("skipped", None, None),
        ("updated", 4, 3),
    ]


def test_a_revision_is_described_by_its_stamps() -> None:
    """A conflict names the revision's short commit and dirty flag (or that it has no git
    stamp), who uploaded it and its CI run."""
    stamped = Code("c", "a", 4, env_vars={"IRONSHIP_GIT_SHA": "f" * 40, "IRONSHIP_GIT_DIRTY": "1"})
    assert describe_revision(stamped) == "revision 4 (git fffffff+dirty)"
    assert describe_revision(Code("c", "a", 2)) == "revision 2 (no git stamp)"
    by = Code("c", "a", 5, env_vars={"IRONSHIP_BY": "alice", "IRONSHIP_CI_URL": "https://ci/1"})
    assert describe_revision(by) == "revision 5 (no git stamp, by alice, CI https://ci/1)"
