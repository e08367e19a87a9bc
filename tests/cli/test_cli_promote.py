"""ironship promote on the real CLI: staging and production are projects on two real engines,
the worker lives in a real git repository (tests/cli/twoenvs.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.twoenvs import API_KEY, FAILING_TEST, Stage, engines_of

from ironship.deploy.promote import PROMOTED_FROM_KEY
from ironship.deploy.smokepass import SMOKE_PASSED_KEY
from ironship.deploy.stamps import (
    DIGEST_KEY,
    FILES_KEY,
    GIT_DIRTY_KEY,
    GIT_REF_KEY,
    GIT_SHA_KEY,
    SMOKE_KEY,
)
from ironship.engine.server import EngineServer

PROMOTE = ("promote", "--from", "staging", "--to", "production")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EngineServer]]:
    yield from engines_of(tmp_path_factory)


@pytest.fixture
def stage(
    tmp_path: Path,
    engines: dict[str, EngineServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Stage:
    """A committed repository with fib and plain, nothing deployed yet."""
    s = Stage(tmp_path / "repo", engines, capsys, monkeypatch)
    s.repo.commit("first")
    return s


def test_promote_ships_stagings_bytes_with_productions_settings(stage: Stage) -> None:
    """After apply --smoke in staging, promote uploads the same bytes to production with
    production's settings and staging's stamps; production's plan then says unchanged."""
    stage.ok("apply", "--env", "staging", "--smoke", "-y")
    staging = stage.codes("staging")
    fib = staging["fib"]
    assert fib.env_vars[SMOKE_PASSED_KEY] == fib.env_vars[SMOKE_KEY]
    assert fib.rev == 2  # the upload, then the settings-only revision recording the pass
    assert stage.ok("plan", "--env", "staging", "--detailed-exitcode").out.endswith(
        "No changes. 2 unchanged.\n"
    )
    res = stage.ok(*PROMOTE, "-y")
    assert "+ fib: create" in res.out and "+ plain: create" in res.out
    assert "2 created." in res.out
    production = stage.codes("production")
    for name in ("fib", "plain"):
        before, after = staging[name].env_vars, production[name].env_vars
        assert production[name].latest_checksum == staging[name].latest_checksum
        for key in (GIT_SHA_KEY, GIT_DIRTY_KEY, GIT_REF_KEY, FILES_KEY):
            assert after[key] == before[key], key
        assert after[PROMOTED_FROM_KEY] == f"staging rev {staging[name].rev}"
        assert SMOKE_PASSED_KEY not in after
    prod_fib = production["fib"]
    assert prod_fib.max_concurrency == 10 and fib.max_concurrency == 2
    assert (prod_fib.env_vars["MODE"], prod_fib.env_vars["API_KEY"]) == ("production", API_KEY)
    assert prod_fib.env_vars[DIGEST_KEY] != fib.env_vars[DIGEST_KEY]  # production's settings
    assert API_KEY not in res.out + res.err
    plan = stage.cli("plan", "--env", "production", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert "No changes. 2 unchanged." in plan.out
    # production runs staging's code with its own environment
    test = stage.ok("test", "--env", "production", "--json")
    assert json.loads(test.out)["summary"]["passed"] == 1


def test_promoting_again_changes_nothing(stage: Stage) -> None:
    """A second promote finds production running staging's packages: no question, no upload."""
    stage.ok("apply", "--env", "staging", "--smoke", "-y")
    stage.ok(*PROMOTE, "-y")
    revs = stage.revs("production")
    res = stage.ok(*PROMOTE)  # no -y and no terminal: nothing to confirm
    assert "no changes: production runs what staging runs" in res.out
    assert stage.revs("production") == revs


def test_a_new_staging_revision_updates_production(stage: Stage) -> None:
    """A new commit applied and smoke-tested in staging replaces production's package."""
    stage.ok("apply", "--env", "staging", "--smoke", "-y")
    stage.ok(*PROMOTE, "-y")
    stage.repo.commit("second", {"w/extra.txt": "more\n"})
    stage.ok("apply", "--env", "staging", "--smoke", "-y")
    res = stage.ok(*PROMOTE, "-y", "--json")
    doc = json.loads(res.out)
    assert (doc["from"], doc["to"]) == ("staging", "production")
    outcomes = {r["name"]: (r["outcome"], r["previous_rev"], r["rev"]) for r in doc["results"]}
    assert outcomes == {"fib": ("updated", 1, 2), "plain": ("unchanged", 1, 1)}
    staging, production = stage.codes("staging"), stage.codes("production")
    assert production["fib"].latest_checksum == staging["fib"].latest_checksum
    assert production["fib"].env_vars[GIT_SHA_KEY] == stage.repo.head
    assert doc["origins"]["fib"] == {
        "rev": staging["fib"].rev,
        "checksum": staging["fib"].latest_checksum,
        "git_sha": stage.repo.head,
    }
    assert API_KEY not in res.out


def test_a_dirty_revision_is_refused_unless_allowed(stage: Stage) -> None:
    """A staging revision stamped dirty is refused before any upload; --allow-dirty ships it."""
    stage.repo.write({"w/fib.py": stage.repo.root.joinpath("w/fib.py").read_text() + "# wip\n"})
    stage.ok("apply", "--env", "staging", "--smoke", "-y")
    assert stage.codes("staging")["fib"].env_vars[GIT_DIRTY_KEY] == "1"
    res = stage.cli(*PROMOTE, "-y")
    assert (res.code, res.out) == (1, "")
    assert "error: refusing to promote; nothing was uploaded:" in res.err
    assert "fib: staging revision 2 (" in res.err and "was uploaded from a dirty tree" in res.err
    assert "--allow-dirty" in res.err
    assert stage.codes("production") == {}
    stage.ok(*PROMOTE, "-y", "--allow-dirty")
    assert stage.codes("production")["fib"].env_vars[GIT_DIRTY_KEY] == "1"


def test_a_failing_smoke_test_refuses_the_promotion(stage: Stage) -> None:
    """A worker whose staging smoke run failed (nothing recorded) is refused with the command
    to run; once its tests pass on staging, it is promoted."""
    stage.write_manifest(FAILING_TEST)
    stage.repo.commit("a failing test")
    failed = stage.cli("apply", "--env", "staging", "--smoke", "-y")
    assert failed.code == 3, failed.out + failed.err
    assert SMOKE_PASSED_KEY not in stage.codes("staging")["fib"].env_vars
    res = stage.cli(*PROMOTE, "-y")
    assert res.code == 1
    assert "fib: staging revision 1 has no passing smoke run recorded" in res.err
    assert "ironship apply --env staging --smoke=all --only fib" in res.err
    assert "plain" not in res.err  # no smoke tests declared: nothing to require
    assert stage.codes("production") == {}
    stage.write_manifest()
    stage.repo.commit("the test fixed")
    stage.ok("apply", "--env", "staging", "--smoke=all", "-y", "--only", "fib")
    stage.ok(*PROMOTE, "-y", "--only", "fib")
    assert list(stage.codes("production")) == ["fib"]


def test_a_worker_never_smoke_tested_is_refused(stage: Stage) -> None:
    """apply without --smoke records nothing: promote refuses fib and says how to test it."""
    stage.ok("apply", "--env", "staging", "-y")
    res = stage.cli(*PROMOTE, "-y", "--only", "fib")
    assert res.code == 1 and "has no passing smoke run recorded" in res.err
    stage.ok("apply", "--env", "staging", "--smoke=all", "-y")
    stage.ok(*PROMOTE, "-y", "--only", "fib")


def test_missing_and_foreign_packages_are_refused_together(stage: Stage) -> None:
    """A worker not deployed in staging and one uploaded by another tool are both named in one
    refusal, before any upload."""
    stage.ok("apply", "--env", "staging", "--smoke", "-y", "--only", "fib")
    with stage.projects["staging"].client() as client:
        client.upload_code({"name": "plain", "runtime": "python", "file_name": "main.py"}, None)
    res = stage.cli(*PROMOTE, "-y")
    assert res.code == 1
    lines = res.err.splitlines()
    lines = lines[lines.index("error: refusing to promote; nothing was uploaded:") :]
    assert lines[:2] == [
        "error: refusing to promote; nothing was uploaded:",
        "  plain: staging revision 1 was not uploaded by ironship (no stamps say what it is)",
    ]
    with stage.projects["staging"].client() as client:
        client.delete_code(next(c.id for c in client.list_codes() if c.name == "plain"))
    res = stage.cli(*PROMOTE, "-y")
    assert "  plain: not deployed in staging" in res.err.splitlines()
    assert stage.codes("production") == {}


def test_promote_asks_for_confirmation(stage: Stage) -> None:
    """Without a terminal and without -y, promote refuses to guess and uploads nothing."""
    stage.ok("apply", "--env", "staging", "--smoke", "-y")
    res = stage.cli(*PROMOTE)
    assert res.code == 1
    assert "error: promote needs confirmation, and there is no terminal to ask" in res.err
    assert stage.codes("production") == {}


def test_bad_environment_names(stage: Stage) -> None:
    """--from equal to --to, and a misspelt environment, are refused with the flag named."""
    same = stage.cli("promote", "--from", "staging", "--to", "staging")
    assert (same.code, same.err.splitlines()[0]) == (
        1,
        "error: --from and --to both name staging",
    )
    typo = stage.cli("promote", "--from", "stagin", "--to", "production")
    assert typo.code == 1
    assert typo.err.splitlines() == [
        "error: --from stagin: ironship.yml declares no environment 'stagin'",
        "hint: did you mean 'staging'? environments declared: staging, production",
    ]


def test_two_environments_on_one_target_are_refused(stage: Stage) -> None:
    """Flags override both environments' targets: promote refuses to promote a project onto
    itself, before connecting to it."""
    p = stage.projects["production"]
    port = p.url.rsplit(":", 1)[1]
    res = stage.cli(*PROMOTE, "-y", "--port", port, "--project-id", p.project_id)
    assert (res.code, res.out) == (1, "")
    assert res.err.splitlines()[0] == (
        f"error: --from staging and --to production both deploy to project {p.project_id} "
        f"on {p.url}: nothing to promote between them"
    )
