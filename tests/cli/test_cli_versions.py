"""Versions from git, end to end: per-worker stamps, the CI dirty rule, and building --ref.

Each test deploys from a real temporary git repository to a project of its own on the
module's real engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, Project, cli_for, run_cli
from deploy.gitrepo import PLAIN_ENV, Repo

from ironship import __version__
from ironship.iron.types import Code

MANIFEST = (
    "version: 1\nworkers:\n"
    "  alpha:\n    root: a\n    entry: main.py\n"
    "  beta:\n    root: b\n    entry: main.py\n"
)
FILES = {"ironship.yml": MANIFEST, "a/main.py": "print('a')\n", "b/main.py": "print('b')\n"}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """Two workers and their manifest in one first commit."""
    r = Repo(tmp_path / "repo").init()
    r.commit("First", FILES)
    return r


@pytest.fixture
def cli(
    project: Project,
    repo: Repo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """`ironship ARGS` in the repository, with extra environment variables as keywords."""

    return cli_for(project, repo.root, capsys, monkeypatch, **PLAIN_ENV)


def codes(project: Project) -> dict[str, Code]:
    with project.client() as client:
        return {c.name: c for c in client.list_codes()}


def stamps(project: Project, name: str) -> dict[str, str]:
    """The IRONSHIP_* env vars of the worker's latest revision, minus the digests."""
    env = codes(project)[name].env_vars
    skip = {"IRONSHIP_DIGEST", "IRONSHIP_FILES", "IRONSHIP_SMOKE"}
    return {k: v for k, v in env.items() if k.startswith("IRONSHIP_") and k not in skip}


def plan_digests(cli: Cli, *args: str) -> dict[str, Any]:
    res = cli("plan", "--json", *args)
    assert res.code == 0, res.err
    return {w["name"]: w["after"] for w in json.loads(res.out)["workers"]}


def test_each_upload_carries_its_workers_inputs_commit_and_origin(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """HEAD touched only beta: alpha keeps the first commit; tag, version, CI run and actor."""
    first = repo.head
    head = repo.commit("Change beta", {"b/main.py": "print('b2')\n"})
    repo.git("tag", "v1.0")
    github = {
        "CI": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_RUN_ID": "77",
        "GITHUB_ACTOR": "octo",
    }
    res = cli("apply", "-y", **github)
    assert res.code == 0, res.err
    origin = {
        "IRONSHIP_GIT_DIRTY": "0",
        "IRONSHIP_GIT_REF": "v1.0",
        "IRONSHIP_VERSION": __version__,
        "IRONSHIP_CI_URL": "https://github.com/acme/app/actions/runs/77",
        "IRONSHIP_BY": "octo",
    }
    assert stamps(project, "alpha") == {"IRONSHIP_GIT_SHA": first, **origin}
    assert stamps(project, "beta") == {"IRONSHIP_GIT_SHA": head, **origin}
    assert first != head


def test_a_commit_touching_no_file_of_a_worker_does_not_upload_it(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """Commits, an amend and a rebase change SHAs but not files: nothing is uploaded again."""
    assert cli("apply", "-y").code == 0
    repo.commit("Docs only", {"README.md": "notes\n"})
    repo.git("commit", "-q", "--amend", "-m", "Docs only (amended)")
    repo.git("checkout", "-q", "-b", "side", "HEAD~1")
    repo.commit("Side docs", {"NOTES.md": "more\n"})
    repo.git("rebase", "-q", "main")
    assert cli("plan", "--detailed-exitcode").code == 0
    res = cli("apply", "-y")
    assert res.code == 0 and "no changes: nothing uploaded" in res.out
    repo.commit("Change beta", {"b/main.py": "print('b2')\n"})
    assert cli("apply", "-y").code == 0
    assert {n: c.rev for n, c in codes(project).items()} == {"alpha": 1, "beta": 2}


def test_in_ci_a_dirty_tree_is_refused_before_any_upload(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """CI=true: a modified or untracked file stops apply, naming the workers and the flag."""
    (repo.root / "a" / "main.py").write_text("print('edited')\n")
    (repo.root / "b" / "extra.py").write_text("X = 1\n")
    res = cli("apply", "-y", CI="true")
    assert res.code == 1
    assert "error: CI is set: refusing to upload from a dirty tree: alpha, beta (" in res.err
    assert "--allow-dirty" in res.err and "Traceback" not in res.err
    assert codes(project) == {}
    assert cli("apply", "-y", CI="false").code == 0  # CI=false is not CI
    (repo.root / "a" / "main.py").write_text("print('edited again')\n")
    assert cli("apply", "-y", "--allow-dirty", CI="1").code == 0
    assert stamps(project, "alpha")["IRONSHIP_GIT_DIRTY"] == "1"
    assert codes(project)["alpha"].rev == 2


def test_outside_git_there_are_no_git_stamps(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outside any repository apply works (even in CI) and history says the commit is unknown."""
    plain = tmp_path / "plain"
    Repo(plain).write(FILES)
    env = {**project.env, **PLAIN_ENV, "CI": "true"}
    assert run_cli(["apply", "-y"], capsys, monkeypatch, env=env, cwd=plain).code == 0
    assert stamps(project, "alpha") == {"IRONSHIP_VERSION": __version__, "IRONSHIP_BY": "tester"}
    res = run_cli(["history", "alpha"], capsys, monkeypatch, env=env, cwd=plain)
    assert res.code == 0, res.err
    assert re.search(r"^\*\s+1 .* unknown\s+-\s+-\s+tester$", res.out, re.MULTILINE), res.out


def write_tools(repo: Repo) -> None:
    """alpha ships an executable script and a symlink to it."""
    repo.write({"a/run.sh": "echo run\n"})
    (repo.root / "a" / "run.sh").chmod(0o755)
    (repo.root / "a" / "alias.sh").symlink_to("run.sh")


def test_ref_head_on_a_clean_tree_gives_the_same_digests_and_zips(
    cli: Cli, repo: Repo, project: Project, tmp_path: Path
) -> None:
    """--ref HEAD plans the same digests and uploads byte for byte what `package` writes."""
    write_tools(repo)
    head = repo.commit("Tools")
    res = cli("package", "--out", str(tmp_path / "dist"))
    assert res.code == 0, res.err
    md5 = dict(re.findall(r"/(\w+)\.zip .* md5 ([0-9a-f]{32})$", res.out, re.MULTILINE))
    assert plan_digests(cli, "--ref", "HEAD") == plan_digests(cli)
    res = cli("apply", "-y", "--ref", "HEAD")
    assert res.code == 0, res.err
    assert "building from --ref HEAD (commit " in res.err
    assert {n: c.latest_checksum for n, c in codes(project).items()} == md5
    with project.client() as client:
        uploaded = client.download_code(codes(project)["alpha"].id, tmp_path / "server.zip")
    assert uploaded.read_bytes() == (tmp_path / "dist" / "alpha.zip").read_bytes()
    assert stamps(project, "alpha") == {
        "IRONSHIP_GIT_SHA": head,
        "IRONSHIP_GIT_DIRTY": "0",
        "IRONSHIP_GIT_REF": "HEAD",
        "IRONSHIP_VERSION": __version__,
        "IRONSHIP_BY": "tester",
    }
    assert "no changes: nothing uploaded" in cli("apply", "-y").out


def test_ref_builds_an_older_commit_with_its_own_manifest(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """--ref HEAD~1 uploads that commit's files (clean) whatever the working tree holds."""
    first = repo.head
    repo.commit(
        "Alpha 2 and gamma",
        {
            "a/main.py": "print('a2')\n",
            "ironship.yml": MANIFEST + "  gamma:\n    root: g\n    entry: main.py\n",
            "g/main.py": "print('g')\n",
        },
    )
    assert cli("apply", "-y").code == 0
    (repo.root / "a" / "main.py").write_text("print('dirty')\n")
    plan = json.loads(cli("plan", "--json", "--ref", "HEAD~1").out)
    actions = {w["name"]: w["action"] for w in plan["workers"]}
    assert actions == {"alpha": "update", "beta": "unchanged", "gamma": "orphan"}
    res = cli("apply", "-y", "--ref", "HEAD~1", "--only", "alpha", CI="true")
    assert res.code == 0, res.err
    assert stamps(project, "alpha")["IRONSHIP_GIT_SHA"] == first
    assert stamps(project, "alpha")["IRONSHIP_GIT_REF"] == "HEAD~1"
    assert cli("diff", "alpha", "previous", "latest").out.splitlines()[1:] == ["~ main.py"]
    assert not list((repo.root / ".ironship").glob("ref-*"))


def test_ref_resolves_git_variables_as_of_that_commit(
    cli: Cli, repo: Repo, project: Project
) -> None:
    """Under --ref, ${git:sha} and ${git:ref} are the commit built, not the working tree's HEAD."""
    with_vars = MANIFEST.replace(
        "  beta:", "    env: {RELEASE: '${git:ref}', SHA: '${git:sha}'}\n  beta:"
    )
    first = repo.commit("Stamp the release", {"ironship.yml": with_vars})
    repo.git("tag", "v1")
    repo.commit("Later", {"b/main.py": "print('b2')\n"})
    res = cli("apply", "-y", "--ref", "v1", "--only", "alpha")
    assert res.code == 0, res.err
    env = codes(project)["alpha"].env_vars
    assert (env["RELEASE"], env["SHA"]) == ("v1", first)


def test_a_bad_ref_is_a_clear_error(cli: Cli, repo: Repo, project: Project) -> None:
    """An unknown ref, or a manifest broken at that commit, says so; nothing is uploaded."""
    res = cli("apply", "-y", "--ref", "no-such-tag")
    assert res.code == 1 and "Traceback" not in res.err
    assert "error: --ref no-such-tag: no such commit in the repository of" in res.err
    repo.commit("Break", {"ironship.yml": MANIFEST.replace("root: b", "root: nowhere")})
    res = cli("plan", "--ref", "HEAD")
    assert res.code == 1
    assert "HEAD:ironship.yml:" in res.err and ".ironship/ref-" not in res.err
    assert codes(project) == {}
    assert not list((repo.root / ".ironship").glob("ref-*"))
