"""deploy/promote.py on two in-memory servers (staging, production): what is uploaded, what is
refused, and that production's own plan agrees afterwards."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import PASSES, Workspace, prints, smoke_test

from ironship.deploy.executor import apply_plan
from ironship.deploy.models import WorkerResult
from ironship.deploy.pipeline import ApplyHooks, ApplyRequest, StampSource, run_apply
from ironship.deploy.planner import make_plan
from ironship.deploy.promote import (
    PROMOTED_FROM_KEY,
    Endpoint,
    PromoteHooks,
    PromoteOutcome,
    PromoteRequest,
    Promotion,
    promote,
)
from ironship.deploy.settings import upload_data
from ironship.deploy.smokepass import SMOKE_PASSED_KEY
from ironship.deploy.stamps import DIGEST_KEY, FILES_KEY, GIT_DIRTY_KEY, GIT_SHA_KEY, SMOKE_KEY
from ironship.errors import IronshipError
from ironship.manifest.models import Manifest, Worker
from ironship.packaging.archive import write_zip
from ironship.secrets import Secret

FAILS = smoke_test("prints-2", 2)
KEY = b"production-secret-key"
SECRET = "prod-secret-value-93d1"


def sha_of(name: str) -> str:
    """A commit SHA of its own for each worker."""
    return hashlib.sha1(name.encode()).hexdigest()


def dirty_line(name: str) -> str:
    """The refusal of ``name``'s revision 1, stamped dirty."""
    return (
        f"  {name}: staging revision 1 ({sha_of(name)[:7]}) was uploaded from a dirty tree "
        "(its files differed from their commit)"
    )


def clean(worker: Worker) -> dict[str, str]:
    return {GIT_SHA_KEY: sha_of(worker.name), GIT_DIRTY_KEY: "0", "IRONSHIP_BY": "alice"}


def dirty(worker: Worker) -> dict[str, str]:
    return {**clean(worker), GIT_DIRTY_KEY: "1"}


def yes(question: str, what: str) -> bool:
    return True


class Env:
    """One environment: its server and the manifest resolved for it."""

    def __init__(self, name: str, manifest: Manifest, key: bytes | None = None) -> None:
        self.name = name
        self.server = FakeIron()
        self.manifest = manifest
        self.key = key

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.manifest, self.server, self.key)

    def apply(self, smoke: bool = True, stamps: StampSource = clean) -> int:
        request = ApplyRequest(smoke="all" if smoke else None, parallelism=1)
        outcome = run_apply(
            self.server, self.manifest, request, ApplyHooks(yes), stamps=stamps, secret_key=self.key
        )
        return outcome.exit_code

    def code(self, name: str) -> dict[str, object]:
        (code,) = [c for c in self.server.list_codes() if c.name == name]
        return {**self.server.data[code.id], "checksum": code.latest_checksum, "rev": code.rev}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    space = Workspace(tmp_path / "project")
    space.worker("alpha", {"main.py": prints("1")}, smoke=(PASSES,), max_concurrency=2)
    space.worker("beta", {"main.py": prints("2"), "lib.py": "B = 2\n"})
    return space


@pytest.fixture
def staging(ws: Workspace) -> Env:
    return Env("staging", ws.manifest)


@pytest.fixture
def production(ws: Workspace) -> Env:
    """Production's overlay: alpha runs with 10 at once, its own MODE and a secret."""
    alpha = replace(
        ws.workers["alpha"], max_concurrency=10, env={"MODE": "prod", "API_KEY": Secret(SECRET)}
    )
    workers = tuple(alpha if w.name == "alpha" else w for w in ws.manifest.workers)
    return Env("production", replace(ws.manifest, workers=workers), KEY)


class Asked:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.questions: list[str] = []
        self.shown: list[Promotion] = []

    def hooks(self) -> PromoteHooks:
        return PromoteHooks(confirm=self.confirm, on_plan=self.shown.append)

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer


def run(
    staging: Env, production: Env, asked: Asked | None = None, **request: object
) -> PromoteOutcome:
    return promote(
        staging.endpoint,
        production.endpoint,
        PromoteRequest(**request),  # type: ignore[arg-type]
        (asked or Asked()).hooks(),
    )


def test_promote_uploads_stagings_zip_with_productions_settings(
    staging: Env, production: Env
) -> None:
    """The source zip goes up byte for byte with production's settings and staging's stamps;
    the digest stamped is the one production's own plan computes, and that plan is empty."""
    assert staging.apply() == 0
    asked = Asked()
    outcome = run(staging, production, asked)
    assert asked.questions == ["Promote 2 worker(s) from staging to production?"]
    assert outcome.exit_code == 0 and outcome.applied is not None
    assert outcome.applied.results == (
        WorkerResult("alpha", "create", "created", 1, None, True),
        WorkerResult("beta", "create", "created", 1, None, True),
    )
    plan = make_plan(production.server, production.manifest, secret_key=KEY)
    assert [w.action for w in plan.workers] == ["unchanged", "unchanged"]
    for wp in plan.workers:
        before, after = staging.code(wp.name), production.code(wp.name)
        assert after["checksum"] == before["checksum"]
        env_before, env_after = before["env_vars"], after["env_vars"]
        assert isinstance(env_before, dict) and isinstance(env_after, dict)
        assert wp.local is not None and env_after[DIGEST_KEY] == wp.local.digest
        for key in (GIT_SHA_KEY, GIT_DIRTY_KEY, FILES_KEY, "IRONSHIP_BY"):
            assert env_after[key] == env_before[key]
        assert env_after[PROMOTED_FROM_KEY] == f"staging rev {before['rev']}"
        assert SMOKE_PASSED_KEY not in env_after
    alpha = production.code("alpha")
    assert alpha["max_concurrency"] == 10 and staging.code("alpha")["max_concurrency"] == 2
    assert alpha["env_vars"]["API_KEY"] == SECRET  # type: ignore[index]
    assert SECRET not in repr(outcome)


def test_a_promoted_package_is_unchanged_the_second_time(staging: Env, production: Env) -> None:
    """Promoting again asks nothing and uploads nothing: every worker is unchanged."""
    staging.apply()
    run(staging, production)
    asked = Asked()
    outcome = run(staging, production, asked)
    assert asked.questions == [] and outcome.exit_code == 0
    assert [w.action for w in outcome.promotion.plan.workers] == ["unchanged", "unchanged"]
    assert production.server.revs("alpha") == [1] and production.server.revs("beta") == [1]


def test_settings_differing_alone_upload_the_same_zip_again(
    staging: Env, production: Env, tmp_path: Path
) -> None:
    """Production running the same bytes with other settings: an update of settings only in
    the plan, uploaded with the zip (so every setting is replaced), the checksum unchanged."""
    staging.apply()
    run(staging, production)
    production.server.upload_code({"name": "beta", "retries": 3}, None)
    outcome = run(staging, production)
    beta = outcome.promotion.plan.workers[1]
    assert (beta.action, beta.code_changed, beta.reasons[1:]) == (
        "update",
        False,
        ("retries: 3 → unset",),
    )
    assert beta.reasons[0].startswith(f"production rev 2 ({sha_of('beta')[:7]}, checksum ")
    assert outcome.applied is not None
    assert outcome.applied.results[1] == WorkerResult("beta", "update", "updated", 3, 2, True)
    assert "retries" not in production.code("beta")
    assert production.code("beta")["checksum"] == staging.code("beta")["checksum"]


def test_every_refusal_is_named_before_any_upload(
    ws: Workspace, staging: Env, production: Env, tmp_path: Path
) -> None:
    """Not deployed, not ironship's, dirty and not smoke-tested workers are refused in one
    error, before anything is downloaded or uploaded."""
    ws.worker("gamma", {"main.py": prints("3")})
    ws.worker("delta", {"main.py": prints("4")}, smoke=(PASSES,))
    ws.worker("omega", {"main.py": prints("5")})
    staging.manifest = ws.manifest
    production.manifest = ws.manifest
    staging.apply(smoke=False, stamps=dirty)  # dirty, and no smoke pass recorded
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("main.sh", "echo hi\n")
    staging.server.upload_code({"name": "gamma", "runtime": "sh"}, foreign)
    for code in staging.server.list_codes():
        if code.name == "omega":
            staging.server.delete_code(code.id)
    with pytest.raises(IronshipError) as caught:
        run(staging, production)
    assert caught.value.message.splitlines() == [
        "refusing to promote; nothing was uploaded:",
        dirty_line("alpha"),
        dirty_line("beta"),
        dirty_line("delta"),
        "  gamma: staging revision 2 was not uploaded by ironship (no stamps say what it is)",
        "  omega: not deployed in staging",
    ]
    assert production.server.list_codes() == []


def test_allow_dirty_still_wants_a_smoke_pass(staging: Env, production: Env) -> None:
    """--allow-dirty lets a dirty revision through, but not one whose smoke tests never passed;
    the hint names the command that records a pass."""
    staging.apply(smoke=False, stamps=dirty)
    with pytest.raises(IronshipError) as caught:
        run(staging, production, allow_dirty=True)
    assert caught.value.message.splitlines()[1:] == [
        "  alpha: staging revision 1 has no passing smoke run recorded (its smoke tests have "
        "not all passed on it)"
    ]
    assert "ironship apply --env staging --smoke=all --only alpha" in (caught.value.hint or "")
    staging.apply(stamps=dirty)
    outcome = run(staging, production, allow_dirty=True)
    assert outcome.exit_code == 0
    assert production.code("alpha")["env_vars"][GIT_DIRTY_KEY] == "1"  # type: ignore[index]


def test_a_failed_smoke_run_records_nothing_to_promote(
    ws: Workspace, staging: Env, production: Env
) -> None:
    """alpha's second test fails in staging: no pass is recorded, so promote refuses it; beta
    (no smoke tests) may go alone."""
    ws.change("alpha", smoke=(PASSES, FAILS))
    staging.manifest = ws.manifest
    assert staging.apply() == 3
    assert SMOKE_PASSED_KEY not in staging.code("alpha")["env_vars"]  # type: ignore[operator]
    with pytest.raises(IronshipError):
        run(staging, production)
    assert run(staging, production, only=("beta",)).exit_code == 0
    assert [c.name for c in production.server.list_codes()] == ["beta"]


def test_a_refused_confirmation_uploads_nothing(staging: Env, production: Env) -> None:
    """Saying no ends with exit 1, the plan shown, and production untouched."""
    staging.apply()
    asked = Asked(answer=False)
    outcome = run(staging, production, asked)
    assert outcome.cancelled and outcome.exit_code == 1
    assert [p.plan.summary["create"] for p in asked.shown] == [2]
    assert production.server.list_codes() == []


def test_another_deploy_during_the_promotion_is_a_conflict(
    staging: Env, production: Env, tmp_path: Path
) -> None:
    """A worker production gets from elsewhere after the promotion was planned is left alone
    (exit 4); the other one is promoted."""
    staging.apply()
    build = tmp_path / "elsewhere"

    def meanwhile(promotion: Promotion) -> None:
        other = make_plan(production.server, production.manifest, only=["beta"], secret_key=KEY)
        apply_plan(production.server, other, build_dir=build)

    outcome = promote(
        staging.endpoint,
        production.endpoint,
        PromoteRequest(),
        PromoteHooks(confirm=lambda q: True, on_plan=meanwhile),
    )
    assert outcome.exit_code == 4 and outcome.applied is not None
    alpha, beta = outcome.applied.results
    assert (alpha.outcome, beta.outcome) == ("created", "conflict")
    assert production.server.revs("beta") == [1]


def test_a_failed_upload_exits_5_when_another_worker_went_up(staging: Env, production: Env) -> None:
    """One upload refused by production: that worker fails, the other is promoted, exit 5."""
    staging.apply()
    production.server.fail_uploads.add("alpha")
    outcome = run(staging, production)
    assert outcome.exit_code == 5 and outcome.applied is not None
    assert [r.outcome for r in outcome.applied.results] == ["failed", "created"]


def test_promoted_smoke_stamp_is_productions(ws: Workspace, staging: Env, production: Env) -> None:
    """Production's smoke tests (from its overlay) are the ones stamped there, so its plan
    agrees; staging's pass record stays in staging."""
    staging.apply()
    other = smoke_test("prints-1-again", 1)
    workers = tuple(
        replace(w, smoke=(PASSES, other)) if w.name == "alpha" else w
        for w in production.manifest.workers
    )
    production.manifest = replace(production.manifest, workers=workers)
    run(staging, production)
    plan = make_plan(production.server, production.manifest, secret_key=KEY)
    assert [w.action for w in plan.workers] == ["unchanged", "unchanged"]
    stamped = production.code("alpha")["env_vars"]
    assert isinstance(stamped, dict) and plan.workers[0].local is not None
    assert stamped[SMOKE_KEY] == plan.workers[0].local.smoke_digest
    assert stamped[SMOKE_KEY] != staging.code("alpha")["env_vars"][SMOKE_KEY]  # type: ignore[index]


class Corrupting(FakeIron):
    """A server whose downloads arrive altered (one byte more than the package)."""

    def download_code(self, code_id: str, dest: Path, revision: int | None = None) -> Path:
        path = super().download_code(code_id, dest, revision)
        path.write_bytes(path.read_bytes() + b"\0")
        return path


class Rezipping(FakeIron):
    """A server that stores other bytes than it was sent (one byte more)."""

    def upload_code(self, data: Mapping[str, Any], zip_path: Path | None) -> str:
        if zip_path is not None:
            zip_path.write_bytes(zip_path.read_bytes() + b"\0")
        return super().upload_code(data, zip_path)


def test_a_download_that_is_not_the_package_stops_everything(staging: Env, production: Env) -> None:
    """The downloaded zip's MD5 must be the source's checksum: otherwise nothing is uploaded."""
    staging.apply()
    corrupting = Corrupting()
    for code in staging.server.list_codes():  # the same codes, served by a corrupting server
        corrupting.revisions[code.id] = staging.server.revisions[code.id]
        corrupting.data[code.id] = staging.server.data[code.id]
    corrupting.zips = staging.server.zips
    staging.server = corrupting
    with pytest.raises(IronshipError) as caught:
        run(staging, production)
    assert caught.value.message.startswith("alpha: staging revision 2: the downloaded zip's MD5 is")
    assert production.server.list_codes() == []


def test_a_package_whose_files_stamp_lies_is_refused(
    ws: Workspace, staging: Env, production: Env, tmp_path: Path
) -> None:
    """A revision stamped with other files than its zip holds is not promoted."""
    staging.apply()
    zip_path = tmp_path / "other.zip"
    write_zip(ws.desired("alpha").fileset, zip_path)
    staging.server.upload_code(upload_data(ws.desired("beta"), clean(ws.workers["beta"])), zip_path)
    with pytest.raises(IronshipError) as caught:
        run(staging, production, only=("beta",))
    assert caught.value.message == (
        "beta: staging revision 2: the zip's files are not the ones its IRONSHIP_FILES stamp names"
    )
    assert production.server.list_codes() == []


def test_other_bytes_on_production_fail_the_worker(staging: Env, production: Env) -> None:
    """Production storing other bytes than staging's: the read-back fails the worker (exit 1)."""
    staging.apply()
    production.server = Rezipping()
    outcome = run(staging, production, only=("beta",))
    assert outcome.exit_code == 1 and outcome.applied is not None
    (beta,) = outcome.applied.results
    assert beta.outcome == "failed" and beta.code_uploaded
    assert (beta.message or "").endswith("not the same bytes")
