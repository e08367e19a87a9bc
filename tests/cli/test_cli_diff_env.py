"""ironship diff --env A --env B on the real CLI: staging and production on two real engines
(tests/cli/twoenvs.py); and the usage rules that keep `diff WORKER REV_A [REV_B]` as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.twoenvs import API_KEY, Stage, engines_of

from ironship import FORMAT_VERSION
from ironship.engine.server import EngineServer

DIFF = ("diff", "--env", "staging", "--env", "production")
PROMOTE = ("promote", "--from", "staging", "--to", "production", "-y")
SETTINGS = "max_concurrency: 2 → 10, env.API_KEY added, env.MODE changed"


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
    """A committed repository with fib and plain, applied and smoke-tested in staging."""
    s = Stage(tmp_path / "repo", engines, capsys, monkeypatch)
    s.repo.commit("first")
    s.ok("apply", "--env", "staging", "--smoke", "-y")
    return s


def test_diff_env_names_what_production_lacks(stage: Stage) -> None:
    """Before any promotion, each worker is reported as not deployed in production."""
    sha = stage.repo.head[:7]
    res = stage.ok(*DIFF)
    assert res.out.splitlines() == [
        f"fib: not deployed in production (staging rev 2 = {sha})",
        f"plain: not deployed in production (staging rev 1 = {sha})",
    ]


def test_diff_env_after_a_promotion_same_packages_other_settings(stage: Stage) -> None:
    """After promote: the same package everywhere; fib's settings differ by name only."""
    stage.ok(*PROMOTE)
    sha = stage.repo.head[:7]
    checksums = {n: c.latest_checksum or "" for n, c in stage.codes("staging").items()}
    res = stage.ok(*DIFF)
    assert res.out.splitlines() == [
        f"fib: same package ({sha}, checksum {checksums['fib'][:8]}), settings differ: {SETTINGS}",
        f"plain: same package ({sha}, checksum {checksums['plain'][:8]}), same settings",
    ]
    assert API_KEY not in res.out + res.err


def test_diff_env_different_packages(stage: Stage) -> None:
    """A new commit applied in staging only: fib runs different packages, named by revision and
    commit; --only and a WORKER argument both pick workers."""
    stage.ok(*PROMOTE)
    first = stage.repo.head[:7]
    second = stage.repo.commit("second", {"w/extra.txt": "more\n"})[:7]
    stage.ok("apply", "--env", "staging", "-y")
    res = stage.ok(*DIFF, "--only", "fib")
    assert res.out.splitlines() == [
        f"fib: different packages (staging rev 3 = {second}, production rev 1 = {first}), "
        f"settings differ: {SETTINGS}"
    ]
    assert stage.ok("diff", "fib", "--env", "staging", "--env", "production").out == res.out


def test_diff_env_json_names_settings_never_values(stage: Stage) -> None:
    """--json: each side's revision, checksum and commit; settings by key, env values never."""
    stage.ok(*PROMOTE)
    res = stage.ok(*DIFF, "--json")
    doc = json.loads(res.out)
    assert (doc["format_version"], doc["from"], doc["to"], doc["differs"]) == (
        FORMAT_VERSION,
        "staging",
        "production",
        True,
    )
    fib, plain = doc["workers"]
    staging = stage.codes("staging")["fib"]
    assert fib["from"] == {
        "environment": "staging",
        "deployed": True,
        "rev": 2,
        "checksum": staging.latest_checksum,
        "files_digest": staging.env_vars["IRONSHIP_FILES"],
        "git_sha": stage.repo.head,
        "git_dirty": False,
    }
    assert (fib["package"], fib["same"]) == ("same", False)
    assert fib["settings"] == [
        {"key": "max_concurrency", "before": 2, "after": 10, "sensitive": False},
        {"key": "env.API_KEY added", "before": None, "after": None, "sensitive": True},
        {"key": "env.MODE", "before": None, "after": None, "sensitive": True},
    ]
    assert (plain["package"], plain["same"], plain["settings"]) == ("same", True, [])
    assert API_KEY not in res.out + res.err
    assert API_KEY in stage.codes("production")["fib"].env_vars.values()


def test_diff_usage_mixes_are_refused(stage: Stage) -> None:
    """Revisions with two --env, three --env, --only without two --env, and no worker at all
    are usage errors (exit 1) naming both forms."""
    cases = {
        ("diff", "fib", "1", "--env", "staging", "--env", "production"): (
            "error: diff --env A --env B compares what two environments run: it takes no "
            "revisions (REV_A, REV_B)"
        ),
        (*DIFF, "--env", "other"): "error: --env given 3 times: diff compares two environments",
        ("diff", "fib", "1", "--env", "staging", "--only", "fib"): (
            "error: --only goes with diff --env A --env B"
        ),
        ("diff", "--env", "staging"): "error: diff needs a worker, or two environments",
        ("diff", "--env", "staging", "--env", "staging"): "error: --env staging given twice",
    }
    for args, first in cases.items():
        res = stage.cli(*args)
        assert (res.code, res.out) == (1, ""), args
        assert res.err.splitlines()[0] == first, args


def test_diff_of_revisions_still_works_in_one_environment(stage: Stage) -> None:
    """`diff WORKER REV_A REV_B --env staging` (or IRONSHIP_ENV) compares two revisions as
    before: the recorded smoke pass (revision 2) differs from revision 1 in nothing shown."""
    res = stage.ok("diff", "fib", "1", "2", "--env", "staging")
    sha = stage.repo.head[:7]
    assert res.out.splitlines() == [f"fib: rev 1 ({sha}) → rev 2 ({sha})", "no differences"]
    assert stage.ok("diff", "fib", "1", "2", IRONSHIP_ENV="staging").out == res.out
