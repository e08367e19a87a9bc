"""history, rollback, diff, and which commit ran a task: end to end from a real repository.

Each test commits versions of a worker in a real temporary git repository, deploys them to a
project of its own on the module's real engine, and reads them back with the CLI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, Project, cli_for
from deploy.gitrepo import PLAIN_ENV, Repo

from ironship.iron.types import Revision

MANIFEST = "version: 1\nworkers:\n  fib:\n    root: w\n    entry: main.py\n"
SEP = "MAGICALSTDOUTSEPARATOR"


def prints(value: str) -> dict[str, str]:
    """The worker's files when it prints ``value`` as its output block."""
    return {"w/main.py": f"print('{SEP}{value}{SEP}')\n"}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo").init()
    r.write({"ironship.yml": MANIFEST})
    return r


@pytest.fixture
def cli(
    project: Project,
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """`ironship ARGS` in the repository, on this test's own project."""

    return cli_for(project, repo.root, capsys, monkeypatch, **PLAIN_ENV)


def deploy(cli: Cli, repo: Repo, message: str, value: str, tag: str | None = None) -> str:
    """Commit the worker printing ``value`` (and tag it), then apply; return the commit."""
    sha = repo.commit(message, prints(value))
    if tag:
        repo.git("tag", tag)
    res = cli("apply", "-y")
    assert res.code == 0, res.err
    return sha


def revisions(project: Project) -> list[Revision]:
    """fib's revisions, newest first."""
    with project.client() as client:
        code = next(c for c in client.list_codes() if c.name == "fib")
        return sorted(client.list_revisions(code.id), key=lambda r: -r.rev)


def history_json(cli: Cli) -> dict[str, Any]:
    res = cli("history", "fib", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert isinstance(doc, dict)
    return doc


def test_history_lists_revisions_with_commits_and_marks_the_working_tree(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """Newest first: subjects, tags, dirty deploys, who; * on the working tree's revision."""
    one = deploy(cli, repo, "First version", "1", tag="v1")
    two = deploy(cli, repo, "Second version", "2")
    repo.write(prints("3"))
    assert cli("apply", "-y").code == 0  # dirty
    repo.git("checkout", "--", "w/main.py")
    res = cli("history", "fib")
    assert res.code == 0, res.err
    head, r3, r2, r1 = res.out.splitlines()
    assert head.split() == ["rev", "uploaded", "checksum", "digest", "commit", "dirty", "ref", "by"]
    assert re.match(rf"^   3 .* {two[:7]} Second version\s+yes\s+main\s+tester$", r3), r3
    assert re.match(rf"^\*  2 .* {two[:7]} Second version\s+no\s+main\s+tester$", r2), r2
    assert re.match(rf"^   1 .* {one[:7]} First version\s+no\s+v1\s+tester$", r1), r1
    assert "* = the working tree's digest" in res.err
    doc = history_json(cli)
    assert [(r["rev"], r["current"], r["git_dirty"]) for r in doc["revisions"]] == [
        (3, False, True),
        (2, True, False),
        (1, False, False),
    ]
    assert doc["revisions"][2]["subject"] == "First version"
    assert doc["revisions"][2]["checksum"] == revisions(project)[2].checksum
    limited = cli("history", "fib", "--limit", "1")
    assert len(limited.out.splitlines()) == 2 and "2 older revision(s) not shown" in limited.err


def test_a_package_ironship_did_not_upload_shows_dashes(
    cli: Cli, repo: Repo, project: Project, tmp_path: Path
) -> None:
    """Another tool's upload has no stamps: history shows - and says it in JSON."""
    deploy(cli, repo, "First version", "1")
    with project.client() as client:
        zip_path = client.download_code(revisions(project)[0].code_id, tmp_path / "fib.zip")
        client.upload_code({"name": "fib", "runtime": "python", "file_name": "main.py"}, zip_path)
    latest = cli("history", "fib").out.splitlines()[1]
    assert latest.split()[3:] == ["-", "-", "-", "-", "-"]
    assert history_json(cli)["revisions"][0]["uploaded_by_ironship"] is False


def test_history_names_only_commits_the_repository_still_has(cli: Cli, repo: Repo) -> None:
    """After an amend and a gc, the deployed commit is gone: its SHA shows, without a subject."""
    old = deploy(cli, repo, "Typo in the subjekt", "1")
    repo.git("commit", "-q", "--amend", "-m", "Fixed subject")
    assert "no changes: nothing uploaded" in cli("apply", "-y").out  # same files, same digest
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    row = history_json(cli)["revisions"][0]
    assert (row["git_sha"], row["subject"]) == (old, None)
    assert re.search(rf" {old[:7]}\s+no\s+main ", cli("history", "fib").out)


def test_rollback_by_revision_commit_and_previous_restores_each_checksum(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """Each rollback uploads the named revision again; the new checksum is exactly its own."""
    deploy(cli, repo, "One", "1")
    two = deploy(cli, repo, "Two", "2")
    deploy(cli, repo, "Three", "3")
    checksum = {r.rev: r.checksum for r in revisions(project)}
    res = cli("rollback", "fib", "--to", "1", "-y")
    assert (res.code, res.out) == (
        0,
        "fib: rolled back to revision 1 (uploaded again as revision 4)\n",
    )
    res = cli("rollback", "fib", "--to", two[:8], "-y", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["restored_rev"] == 2 and json.loads(res.out)["new_rev"] == 5
    assert cli("rollback", "fib", "--to", "previous", "-y").code == 0
    after = {r.rev: r for r in revisions(project)}
    assert [after[n].checksum for n in (4, 5, 6)] == [checksum[1], checksum[2], checksum[1]]
    assert after[5].env_vars["IRONSHIP_GIT_SHA"] == two  # the old revision's stamps, too
    res = cli("queue", "fib", "--wait")
    assert res.code == 0 and f"{SEP}1{SEP}" in res.out


def test_rollback_refusals_change_nothing(cli: Cli, repo: Repo, project: Project) -> None:
    """Unknown revision or commit, a commit never deployed, no terminal: clear, exit 1."""
    one = deploy(cli, repo, "One", "1")
    deploy(cli, repo, "Two", "2")
    local = repo.commit("Three, not deployed", prints("3"))
    res = cli("rollback", "fib", "--to", "9", "-y")
    assert res.code == 1 and "error: --to 9: fib has no revision 9" in res.err
    assert "revisions (newest first): 2 (" in res.err and f"1 ({one[:7]})" in res.err
    res = cli("rollback", "fib", "--to", local[:7], "-y")
    assert res.code == 1
    assert (
        f"no revision of fib was uploaded from commit {local[:7]} 'Three, not deployed'" in res.err
    )
    assert f"`ironship apply --ref {local[:7]} --only fib`" in res.err
    res = cli("rollback", "fib", "--to", "deadbeef", "-y")
    assert res.code == 1 and "the local repository has no such commit" in res.err
    res = cli("rollback", "fib", "--to", "previous")
    assert res.code == 1 and "rollback needs confirmation, and there is no terminal" in res.err
    res = cli("rollback", "ghost", "--to", "1", "-y")
    assert res.code == 1 and "no worker named 'ghost' on the server" in res.err
    assert "Traceback" not in res.err
    assert [r.rev for r in revisions(project)] == [2, 1]
    res = cli("rollback", "fib", "--to", "2", "-y")
    assert res.code == 0 and "revision 2 is the latest already; nothing to do" in res.out


def test_diff_names_files_and_settings_never_values(cli: Cli, repo: Repo) -> None:
    """Files +/-/~ and settings by name between revisions and the working tree; no env value."""
    repo.write({"w/old.py": "OLD = 1\n"})
    deploy(cli, repo, "One", "1")
    secret = "s3cr3t-value"
    manifest = MANIFEST + f"    max_concurrency: 3\n    env:\n      API_KEY: {secret}\n"
    (repo.root / "w" / "old.py").unlink()
    repo.write({"ironship.yml": manifest, "w/lib.py": "LIB = 1\n"})
    deploy(cli, repo, "Two", "2")
    res = cli("diff", "fib", "1", "2")
    assert res.code == 0, res.err
    assert res.out.splitlines() == [
        "fib: rev 1 (" + revisions_sha(cli, 1) + ") → rev 2 (" + revisions_sha(cli, 2) + ")",
        "+ lib.py",
        "- old.py",
        "~ main.py",
        "max_concurrency: unset → 3",
        "env.API_KEY added",
    ]
    repo.write(prints("3"))
    res = cli("diff", "fib", "latest")
    assert res.out.splitlines()[1:] == ["~ main.py"]
    doc = json.loads(cli("diff", "fib", "previous", "--json").out)
    assert doc["to"]["working_tree"] is True
    assert doc["files"] == {
        "known": True,
        "added": ["lib.py"],
        "removed": ["old.py"],
        "changed": ["main.py"],
    }
    assert {"key": "env.API_KEY added", "before": None, "after": None, "sensitive": True} in doc[
        "settings"
    ]
    assert secret not in json.dumps(doc) and secret not in res.out
    missing = cli("diff", "fib")
    assert missing.code == 1 and "diff needs the revision to compare" in missing.err


def revisions_sha(cli: Cli, rev: int) -> str:
    rows = history_json(cli)["revisions"]
    return str(next(r["git_sha"] for r in rows if r["rev"] == rev))[:7]


def test_task_and_log_name_the_revision_and_commit_that_ran(cli: Cli, repo: Repo) -> None:
    """task and log say `ran fib rev N = SHA 'subject' (clean|dirty)`; task --json too."""
    sha = deploy(cli, repo, "Fix rounding", "1")
    task_id = cli("queue", "fib", "--wait", "--json")
    tid = json.loads(task_id.out)["id"]
    shown = cli("task", tid)
    assert shown.out.splitlines()[-1] == f"ran fib rev 1 = {sha[:7]} 'Fix rounding' (clean)"
    doc = json.loads(cli("task", tid, "--json").out)
    assert doc["revision"] == {
        "rev": 1,
        "git_sha": sha,
        "git_dirty": False,
        "subject": "Fix rounding",
    }
    log = cli("log", tid)
    assert log.out == f"{SEP}1{SEP}\n"
    assert f"ran fib rev 1 = {sha[:7]} 'Fix rounding' (clean)" in log.err
    repo.write(prints("2"))
    assert cli("apply", "-y").code == 0
    dirty = json.loads(cli("queue", "fib", "--wait", "--json").out)["id"]
    assert cli("task", dirty).out.splitlines()[-1] == (
        f"ran fib rev 2 = {sha[:7]} 'Fix rounding' (dirty)"
    )


def test_a_worker_with_secrets_is_compared_with_the_targets_key(cli: Cli, repo: Repo) -> None:
    """${secret:…} settings: * and diff use the target's keyed digest; no value is shown."""
    secret = "first-s3cret"
    repo.write({"ironship.yml": MANIFEST + "    env:\n      API_KEY: ${secret:API_KEY}\n"})
    repo.commit("With a secret", prints("1"))
    assert cli("apply", "-y", API_KEY=secret).code == 0
    assert cli("history", "fib", API_KEY=secret).out.splitlines()[1].startswith("*  1 ")
    same = cli("diff", "fib", "latest", API_KEY=secret)
    assert same.out.splitlines()[1:] == ["no differences"]
    rotated = cli("diff", "fib", "latest", API_KEY="rotated-s3cret")
    assert rotated.out.splitlines()[1:] == ["env.API_KEY changed"]
    assert not cli("history", "fib", API_KEY="rotated-s3cret").out.splitlines()[1].startswith("*")
    shown = same.out + same.err + rotated.out + rotated.err
    assert secret not in shown and "rotated-s3cret" not in shown
