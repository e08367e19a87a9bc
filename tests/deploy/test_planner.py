"""make_plan on the in-memory server: each case compares the whole Plan value."""

from __future__ import annotations

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace, prints, smoke_test

from ironship.deploy.models import FileChanges, Plan, SettingChange, WorkerPlan
from ironship.deploy.planner import make_plan
from ironship.deploy.settings import local_worker
from ironship.errors import IronshipError
from ironship.packaging.fileset import select_fileset
from ironship.secrets import Secret, digest_key


def test_new_workers_are_created(ws: Workspace, server: FakeIron) -> None:
    """Workers missing on the server are planned as creates with their file counts."""
    assert make_plan(server, ws.manifest) == Plan(
        (
            WorkerPlan(
                "alpha", "create", ("new worker (2 files)",), True, local=ws.desired("alpha")
            ),
            WorkerPlan("beta", "create", ("new worker (1 file)",), True, local=ws.desired("beta")),
        )
    )


def test_workers_ironship_uploaded_are_unchanged(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """Right after ironship's own uploads, every worker is unchanged and nothing is planned."""
    alpha = uploader.upload(server, ws.desired("alpha"))
    beta = uploader.upload(server, ws.desired("beta"))
    assert make_plan(server, ws.manifest) == Plan(
        (
            WorkerPlan("alpha", "unchanged", local=ws.desired("alpha"), remote=alpha),
            WorkerPlan("beta", "unchanged", local=ws.desired("beta"), remote=beta),
        )
    )


def test_a_code_change_names_the_changed_file(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """Editing one file plans a code update naming that file, from the server's zip."""
    alpha = uploader.upload(server, ws.desired("alpha"))
    (ws.root / "workers" / "alpha" / "lib.py").write_text("A = 2\n")
    plan = make_plan(server, ws.manifest, only=["alpha"])
    assert plan == Plan(
        (
            WorkerPlan(
                "alpha",
                "update",
                ("~ lib.py",),
                code_changed=True,
                files=FileChanges(changed=("lib.py",)),
                local=ws.desired("alpha"),
                remote=alpha,
            ),
        ),
        notes=("--only in effect: 1 worker(s) not planned",),
    )


def test_a_settings_change_keeps_the_code(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """A new max_concurrency is a settings-only update showing before and after."""
    alpha = uploader.upload(server, ws.desired("alpha"))
    ws.change("alpha", max_concurrency=10)
    assert make_plan(server, ws.manifest, only=["alpha"]).workers == (
        WorkerPlan(
            "alpha",
            "update",
            ("max_concurrency: 5 → 10",),
            settings=(SettingChange("max_concurrency", 5, 10),),
            local=ws.desired("alpha"),
            remote=alpha,
        ),
    )


def test_a_smoke_test_change_alone_is_an_update(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """Adding a smoke test changes the IRONSHIP_SMOKE stamp: a settings update, code kept."""
    alpha = uploader.upload(server, ws.desired("alpha"))
    ws.change("alpha", smoke=(smoke_test("prints-1", 1),))
    assert make_plan(server, ws.manifest, only=["alpha"]).workers == (
        WorkerPlan(
            "alpha",
            "update",
            ("smoke tests changed",),
            settings=(SettingChange("smoke tests", None, None, sensitive=True),),
            local=ws.desired("alpha"),
            remote=alpha,
        ),
    )


def test_a_foreign_package_with_the_same_checksum_is_unchanged(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """A package another tool uploaded from the same files is unchanged, by its checksum."""
    beta = uploader.upload(server, ws.desired("beta"), stamped=False)
    assert make_plan(server, ws.manifest, only=["beta"]).workers == (
        WorkerPlan(
            "beta",
            "unchanged",
            ("matches the server's checksum (package not uploaded by ironship)",),
            local=ws.desired("beta"),
            remote=beta,
        ),
    )


def test_codes_outside_the_manifest_are_orphans_or_deletes(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """A code the manifest doesn't name is an orphan, or a delete with --prune."""
    alpha = uploader.upload(server, ws.desired("alpha"))
    beta = uploader.upload(server, ws.desired("beta"))
    stray = server.get_code(server.upload_code({"name": "aaa-stray", "runtime": "sh"}, None))
    unchanged = (
        WorkerPlan("alpha", "unchanged", local=ws.desired("alpha"), remote=alpha),
        WorkerPlan("beta", "unchanged", local=ws.desired("beta"), remote=beta),
    )
    orphan = WorkerPlan("aaa-stray", "orphan", ("not in the manifest; left alone",), remote=stray)
    assert make_plan(server, ws.manifest) == Plan((orphan, *unchanged))
    delete = WorkerPlan(
        "aaa-stray", "delete", ("not in the manifest; --prune deletes it",), remote=stray
    )
    assert make_plan(server, ws.manifest, prune=True) == Plan((delete, *unchanged), prune=True)
    # --only limits the plan to the named workers: nothing else is an orphan or pruned.
    assert make_plan(server, ws.manifest, only=["beta"], prune=True) == Plan(
        (unchanged[1],), notes=("--only in effect: 1 worker(s) not planned",)
    )


def test_missing_runtimes_are_warnings_and_never_errors(ws: Workspace, server: FakeIron) -> None:
    """Given the stack list, a worker whose runtime is missing gets a warning; no list, none."""
    ws.change("beta", runtime="php")
    plan = make_plan(server, ws.manifest, stacks=server)
    assert plan.warnings == (
        "beta: the local engine has no 'php' runtime; its tasks will fail (install php-cli)",
    )
    assert [w.action for w in plan.workers] == ["create", "create"]
    server.fail_stacks = True
    assert make_plan(server, ws.manifest, stacks=server) == make_plan(server, ws.manifest)


def test_an_unknown_only_name_is_an_error(ws: Workspace, server: FakeIron) -> None:
    """--only with a name the manifest lacks fails, listing the workers it has."""
    with pytest.raises(IronshipError) as info:
        make_plan(server, ws.manifest, only=["gamma"])
    assert "no worker named 'gamma'" in info.value.message
    assert info.value.hint == "workers in this manifest: alpha, beta"


def test_a_worker_with_secrets_is_planned_with_the_targets_key(
    ws: Workspace, server: FakeIron, uploader: Uploader
) -> None:
    """The key keys the digest; after the upload the same secret is unchanged, a new one not."""
    gamma = ws.worker("gamma", {"main.py": prints("3")}, env={"API_KEY": Secret("s-1")})
    key = digest_key("the-token")
    desired = local_worker(gamma, select_fileset(gamma), key)
    [created] = make_plan(server, ws.manifest, only=["gamma"], secret_key=key).workers
    assert created == WorkerPlan("gamma", "create", ("new worker (1 file)",), True, local=desired)
    remote = uploader.upload(server, desired)
    assert remote.env_vars["API_KEY"] == "s-1"  # the server got the value itself
    [same] = make_plan(server, ws.manifest, only=["gamma"], secret_key=key).workers
    assert same == WorkerPlan("gamma", "unchanged", local=desired, remote=remote)
    ws.change("gamma", env={"API_KEY": Secret("s-2")})
    [rotated] = make_plan(server, ws.manifest, only=["gamma"], secret_key=key).workers
    assert rotated.reasons == ("env.API_KEY changed",)


def test_a_worker_with_secrets_needs_the_key(ws: Workspace, server: FakeIron) -> None:
    """Without the target's key, planning a worker with secrets stops rather than hash it."""
    ws.worker("gamma", {"main.py": prints("3")}, env={"API_KEY": Secret("s-1")})
    with pytest.raises(IronshipError, match=r"gamma: its settings hold"):
        make_plan(server, ws.manifest, only=["gamma"])
