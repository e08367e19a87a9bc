"""`status` and git: the commit a deploy came from, dirty or clean, and files never committed.

Each test builds a real temporary git repository and deploys from it to a real engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import Project, Run, new_project, run_cli, write_tree
from deploy.gitrepo import git

from ironship.engine.server import EngineServer

MANIFEST = "version: 1\nworkers:\n  hello:\n    root: w\n    entry: main.py\n"
FILES = {"ironship.yml": MANIFEST, "w/main.py": "print('hello')\n"}

Cli = Callable[..., Run]


def commit_all(repo: Path) -> str:
    """Commit everything in ``repo`` (a new repository when needed); return the commit."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "test")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def cli(
    engine: EngineServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """`ironship ARGS` in tmp_path, on a project of its own."""
    project: Project = new_project(engine)

    def run(*args: str) -> Run:
        # CI="" so that a CI running these tests does not refuse the dirty deploys they make
        env = {**project.env, "CI": ""}
        return run_cli(list(args), capsys, monkeypatch, env=env, cwd=tmp_path)

    return run


def status_row(cli: Cli, *args: str) -> dict[str, Any]:
    res = cli("status", "--json", *args)
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)["workers"]
    assert isinstance(row, dict)
    return row


def test_status_shows_clean_and_dirty_deploys(cli: Cli, tmp_path: Path) -> None:
    """A deploy of committed files shows the commit; one with an uncommitted change, +dirty."""
    write_tree(tmp_path, FILES)
    head = commit_all(tmp_path)
    assert cli("apply", "-y").code == 0
    row = status_row(cli)
    assert (row["git_sha"], row["git_dirty"], row["files_in_git"]) == (head, False, True)
    text = cli("status")
    assert f" {head[:7]} " in text.out and "+dirty" not in text.out
    (tmp_path / "w" / "main.py").write_text("print('changed')\n")
    assert cli("apply", "-y").code == 0
    row = status_row(cli)
    assert (row["git_sha"], row["git_dirty"]) == (head, True)
    assert f" {head[:7]}+dirty " in cli("status").out


def test_an_untracked_new_file_makes_the_deploy_dirty(cli: Cli, tmp_path: Path) -> None:
    """A file never committed that ships with the worker is a difference from the commit."""
    write_tree(tmp_path, FILES)
    head = commit_all(tmp_path)
    (tmp_path / "w" / "extra.py").write_text("X = 1\n")
    assert cli("apply", "-y").code == 0
    row = status_row(cli)
    assert (row["git_sha"], row["git_dirty"]) == (head, True)


def test_files_never_committed_carry_no_commit(cli: Cli, tmp_path: Path) -> None:
    """A manifest whose files were never committed is not stamped with HEAD; status says so."""
    write_tree(tmp_path, {"README": "other work\n"})
    commit_all(tmp_path)
    write_tree(tmp_path / "new", FILES)  # inside the repository, never committed
    assert cli("apply", "-y", "-f", "new/ironship.yml").code == 0
    row = status_row(cli, "-f", "new/ironship.yml")
    assert (row["git_sha"], row["git_dirty"], row["files_in_git"]) == (None, None, False)
    text = cli("status", "-f", "new/ironship.yml")
    assert "| -   |" in text.out
    assert "note: hello: its files are not in git" in text.err


def test_each_worker_is_stamped_from_its_own_folder(cli: Cli, tmp_path: Path) -> None:
    """A worker never committed gets no commit, and untracked files elsewhere dirty no worker."""
    two = MANIFEST + "  fresh:\n    root: f\n    entry: main.py\n"
    write_tree(tmp_path, {**FILES, "ironship.yml": two})
    head = commit_all(tmp_path)
    write_tree(tmp_path, {"f/main.py": "print('new')\n", "dist/build.log": "unrelated\n"})
    assert cli("apply", "-y").code == 0
    res = cli("status", "--json")
    rows = {r["name"]: r for r in json.loads(res.out)["workers"]}
    hello, fresh = rows["hello"], rows["fresh"]
    assert (hello["git_sha"], hello["git_dirty"], hello["files_in_git"]) == (head, False, True)
    assert (fresh["git_sha"], fresh["git_dirty"], fresh["files_in_git"]) == (None, None, False)


def test_outside_any_repository(cli: Cli, tmp_path: Path) -> None:
    """Outside any git repository there is no commit to show and status says so."""
    write_tree(tmp_path, FILES)
    assert cli("apply", "-y").code == 0
    row = status_row(cli)
    assert (row["git_sha"], row["files_in_git"]) == (None, False)


def test_status_table_is_ascii_on_a_pipe(cli: Cli, tmp_path: Path) -> None:
    """Printed to a pipe, the status table uses ASCII lines, not box-drawing characters."""
    write_tree(tmp_path, FILES)
    res = cli("status")
    assert res.code == 0, res.err
    header, rule, row = res.out.splitlines()[:3]
    assert header.split("|")[0].strip() == "worker" and set(rule) <= {"-", "+", " "}
    assert row.split("|")[0].strip() == "hello"
    assert not any(ord(ch) > 127 for ch in res.out)


def test_plan_leaves_git_status_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `ironship plan` on the local engine, git status lists nothing: .ironship/ hides."""
    write_tree(tmp_path, FILES)
    commit_all(tmp_path)
    res = run_cli(["plan"], capsys, monkeypatch, cwd=tmp_path)
    assert res.code == 0, res.err
    assert (tmp_path / ".ironship" / "engine").is_dir()
    assert git(tmp_path, "status", "--porcelain", "--untracked-files=all") == ""


def test_no_color_means_no_escape_codes(tmp_path: Path) -> None:
    """With NO_COLOR set, even a terminal gets no escape codes: no colour, bold or dim."""
    write_tree(tmp_path, FILES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRON")}
    env.update(NO_COLOR="1", FORCE_COLOR="1", TERM="xterm-256color", HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "ironship", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hello" in done.stdout and "target: local engine" in done.stderr
    assert "\x1b[" not in done.stdout + done.stderr
