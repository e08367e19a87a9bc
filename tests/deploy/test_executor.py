"""apply_plan and rollback on the in-memory server: each case compares the whole result."""

from __future__ import annotations

from pathlib import Path

from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace, prints

from ironship.deploy.executor import apply_plan, rollback
from ironship.deploy.models import ApplyResult, WorkerResult
from ironship.deploy.planner import make_plan
from ironship.deploy.settings import upload_data
from ironship.iron.types import Code


def test_creates_upload_zips_carrying_the_stamps(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """New workers are uploaded with their zips, and the server then holds exactly their data."""
    plan = make_plan(server, ws.manifest)
    stamps = {name: {"IRONSHIP_GIT_SHA": f"sha-of-{name}"} for name in ("alpha", "beta")}
    result = apply_plan(server, plan, build_dir=tmp_path / "build", stamps=stamps)
    assert result == ApplyResult(
        plan,
        (
            WorkerResult("alpha", "create", "created", rev=1, code_uploaded=True),
            WorkerResult("beta", "create", "created", rev=1, code_uploaded=True),
        ),
    )
    for name in ("alpha", "beta"):
        (code,) = [c for c in server.list_codes() if c.name == name]
        assert server.data[code.id] == upload_data(ws.desired(name), stamps[name])


def test_a_settings_change_uploads_no_zip(
    ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """A settings-only update adds a revision without a zip: the checksum stays."""
    before = uploader.upload(server, ws.desired("alpha"))
    ws.change("alpha", max_concurrency=10)
    plan = make_plan(server, ws.manifest, only=["alpha"])
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    assert result == ApplyResult(
        plan, (WorkerResult("alpha", "update", "updated", rev=2, previous_rev=1),)
    )
    after = server.get_code(before.id)
    assert (after.max_concurrency, after.latest_checksum) == (10, before.latest_checksum)


def test_unchanged_orphan_and_deleted_workers(
    ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """Unchanged workers keep their revision, an orphan is left, a pruned one is deleted."""
    uploader.upload(server, ws.desired("alpha"))
    uploader.upload(server, ws.desired("beta"))
    server.upload_code({"name": "stray", "runtime": "sh"}, None)
    kept = make_plan(server, ws.manifest)
    assert apply_plan(server, kept, build_dir=tmp_path / "build") == ApplyResult(
        kept,
        (
            WorkerResult("alpha", "unchanged", "unchanged", rev=1, previous_rev=1),
            WorkerResult("beta", "unchanged", "unchanged", rev=1, previous_rev=1),
            WorkerResult("stray", "orphan", "orphan", rev=1, previous_rev=1),
        ),
    )
    pruned = make_plan(server, ws.manifest, prune=True)
    assert apply_plan(server, pruned, build_dir=tmp_path / "build") == ApplyResult(
        pruned,
        (
            WorkerResult("alpha", "unchanged", "unchanged", rev=1, previous_rev=1),
            WorkerResult("beta", "unchanged", "unchanged", rev=1, previous_rev=1),
            WorkerResult("stray", "delete", "deleted", previous_rev=1),
        ),
    )
    assert [c.name for c in server.list_codes()] == ["alpha", "beta"]


def test_a_failed_upload_is_reported_and_the_others_still_go(
    ws: Workspace, server: FakeIron, tmp_path: Path
) -> None:
    """One refused upload fails that worker only, with the server's message."""
    server.fail_uploads.add("alpha")
    plan = make_plan(server, ws.manifest)
    result = apply_plan(server, plan, build_dir=tmp_path / "build", parallelism=2)
    assert result == ApplyResult(
        plan,
        (
            WorkerResult(
                "alpha",
                "create",
                "failed",
                message="POST /codes failed (400): injected failure for alpha",
            ),
            WorkerResult("beta", "create", "created", rev=1, code_uploaded=True),
        ),
    )
    assert [c.name for c in server.list_codes()] == ["beta"]


class DropsStamps(FakeIron):
    """A server that keeps every setting but the env vars (a broken proxy, say)."""

    def get_code(self, code_id: str) -> Code:
        return self._without_env(super().get_code(code_id))

    def list_codes(self) -> list[Code]:
        return [self._without_env(c) for c in super().list_codes()]

    @staticmethod
    def _without_env(code: Code) -> Code:
        return Code(code.id, code.name, code.rev, code.latest_checksum, runtime=code.runtime)


def test_an_upload_the_server_does_not_read_back_fails(ws: Workspace, tmp_path: Path) -> None:
    """An upload whose stamp is missing on read-back is a failure, not a success."""
    server = DropsStamps()
    plan = make_plan(server, ws.manifest, only=["beta"])
    assert apply_plan(server, plan, build_dir=tmp_path / "build") == ApplyResult(
        plan,
        (
            WorkerResult(
                "beta",
                "create",
                "failed",
                code_uploaded=True,
                message="server stamp does not match the upload",
            ),
        ),
    )


def test_rollback_restores_the_previous_package_as_a_new_revision(
    ws: Workspace, server: FakeIron, uploader: Uploader, tmp_path: Path
) -> None:
    """Rollback re-uploads each changed worker's old zip and settings; created ones stay."""
    v1 = uploader.upload(server, ws.desired("alpha"))
    (ws.root / "workers" / "alpha" / "main.py").write_text(prints("broken"))
    ws.change("alpha", max_concurrency=7)
    plan = make_plan(server, ws.manifest)
    result = apply_plan(server, plan, build_dir=tmp_path / "build")
    report = rollback(server, result, tmp_path / "scratch")
    assert report == {
        "alpha": "rolled back to revision 1 (uploaded again as revision 3)",
        "beta": "created by this apply; no earlier revision to restore (left as is)",
    }
    restored = server.get_code(v1.id)
    assert restored == Code(
        v1.id,
        "alpha",
        3,
        v1.latest_checksum,
        runtime="python",
        file_name="main.py",
        max_concurrency=5,
        env_vars=v1.env_vars,
    )
    assert server.revs("alpha") == [1, 2, 3]
