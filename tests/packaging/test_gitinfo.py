"""gitinfo in real repositories: the inputs' commit, the ref, dirtiness, subjects, prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy.gitrepo import Repo

from ironship.packaging.gitinfo import (
    DETACHED,
    GitState,
    commit_subject,
    current_ref,
    git_state,
    inputs_commit,
    resolve_commit,
)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """Two worker folders and a manifest, committed one after the other."""
    r = Repo(tmp_path / "repo").init()
    r.commit("manifest", {"ironship.yml": "version: 1\n"})
    r.commit("Add alpha", {"alpha/main.py": "A = 1\n"})
    r.commit("Add beta", {"beta/main.py": "B = 1\n"})
    return r


def test_the_inputs_commit_is_the_last_one_touching_the_folder(repo: Repo) -> None:
    """A commit that touched only beta is HEAD, yet alpha keeps the commit that touched it."""
    alpha = repo.git("rev-parse", "HEAD~1")
    state = git_state(repo.root / "alpha", also=(repo.root / "ironship.yml",))
    assert state == GitState(in_repo=True, sha=alpha, dirty=False, ref="main")
    assert git_state(repo.root / "beta").sha == repo.head != alpha


def test_a_manifest_commit_is_an_input_of_every_worker(repo: Repo) -> None:
    """Changing the manifest moves every worker's inputs' commit, when it is passed as input."""
    head = repo.commit("Tune the manifest", {"ironship.yml": "version: 1\n# tuned\n"})
    manifest = (repo.root / "ironship.yml",)
    assert git_state(repo.root / "alpha", also=manifest).sha == head
    assert git_state(repo.root / "alpha").sha == repo.git("rev-parse", "HEAD~2")


def test_inputs_commit_as_of_an_older_commit(repo: Repo) -> None:
    """``at`` answers for history: beta did not exist before its commit."""
    first = repo.git("rev-parse", "HEAD~2")
    assert inputs_commit(repo.root, [repo.root / "alpha"], at=repo.head) == repo.git(
        "rev-parse", "HEAD~1"
    )
    assert inputs_commit(repo.root, [repo.root / "beta"], at=first) is None


def test_dirty_means_under_the_folder_only(repo: Repo) -> None:
    """A change under beta dirties beta, not alpha; an untracked file counts."""
    (repo.root / "beta" / "new.py").write_text("N = 1\n")
    assert git_state(repo.root / "beta").dirty
    assert not git_state(repo.root / "alpha").dirty


def test_the_ref_is_a_tag_else_the_branch_else_detached(repo: Repo) -> None:
    """A tag on HEAD wins over the branch; a detached HEAD without a tag says detached."""
    assert current_ref(repo.root) == "main"
    repo.git("tag", "v1.0")
    assert current_ref(repo.root) == "v1.0"
    repo.git("checkout", "-q", "--detach", "HEAD~1")
    assert current_ref(repo.root) == DETACHED
    assert git_state(repo.root / "alpha").ref == DETACHED


def test_never_committed_and_outside_a_repository(repo: Repo, tmp_path: Path) -> None:
    """A folder never committed has no commit but is dirty; outside git there is nothing."""
    (repo.root / "gamma").mkdir()
    (repo.root / "gamma" / "main.py").write_text("G = 1\n")
    assert git_state(repo.root / "gamma") == GitState(True, None, True, "main")
    (tmp_path / "plain").mkdir()
    assert git_state(tmp_path / "plain") == GitState(False, None, False, None)
    assert current_ref(tmp_path / "plain") is None


def test_subjects_and_prefixes(repo: Repo) -> None:
    """A local commit gives its subject and a unique prefix resolves; others give None."""
    assert commit_subject(repo.root, repo.head) == "Add beta"
    assert commit_subject(repo.root, repo.head[:7]) == "Add beta"
    assert resolve_commit(repo.root, repo.head[:8]) == repo.head
    assert commit_subject(repo.root, "0" * 40) is None
    assert resolve_commit(repo.root, "0" * 12) is None


def test_values_from_outside_never_reach_git_as_options(repo: Repo, tmp_path: Path) -> None:
    """A stamp that is not hexadecimal is not passed to git at all (it could be an option)."""
    target = tmp_path / "written"
    assert commit_subject(repo.root, f"--output={target}") is None
    assert resolve_commit(repo.root, "HEAD") is None
    assert not target.exists()
