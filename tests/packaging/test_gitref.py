"""tree_at_ref: the manifest's folder as a commit holds it, checked out and cleaned away."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from deploy.gitrepo import Repo

from ironship.errors import IronshipError, ManifestError
from ironship.manifest.load import load_manifest
from ironship.packaging.gitref import tree_at_ref

MANIFEST = "version: 1\nworkers:\n  w:\n    root: w\n    entry: main.sh\n"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A repository whose manifest lives in ``app/``, with an executable and a symlink."""
    r = Repo(tmp_path / "repo").init()
    r.write({"README": "top\n", "app/ironship.yml": MANIFEST, "app/w/main.sh": "echo 1\n"})
    (r.root / "app" / "w" / "main.sh").chmod(0o755)
    (r.root / "app" / "w" / "alias.sh").symlink_to("main.sh")
    r.commit("first")
    return r


def test_the_folder_is_checked_out_with_modes_and_links(repo: Repo) -> None:
    """Files come out as git stores them: the exec bit, the symlink; only the manifest's folder."""
    with tree_at_ref(repo.root / "app" / "ironship.yml", "HEAD") as tree:
        assert tree.commit == repo.head and tree.base == (repo.root / "app").resolve()
        assert tree.manifest.read_text() == MANIFEST
        assert os.access(tree.root / "w" / "main.sh", os.X_OK)
        assert os.readlink(tree.root / "w" / "alias.sh") == "main.sh"
        assert not (tree.root.parent / "README").exists()
        assert tree.original(tree.root / "w") == tree.base / "w"
        scratch = tree.root
    assert not scratch.exists()


def test_an_older_commit_gives_its_own_files(repo: Repo) -> None:
    """A ref names a commit: files changed or added since are as that commit had them."""
    first = repo.head
    repo.commit("second", {"app/w/main.sh": "echo 2\n", "app/w/new.sh": "echo new\n"})
    with tree_at_ref(repo.root / "app" / "ironship.yml", first[:10]) as tree:
        assert (tree.root / "w" / "main.sh").read_text() == "echo 1\n"
        assert not (tree.root / "w" / "new.sh").exists()


def test_the_repository_is_left_as_it_was(repo: Repo) -> None:
    """A staged change stays staged and nothing new shows in git status."""
    (repo.root / "app" / "w" / "main.sh").write_text("echo staged\n")
    repo.git("add", "app/w/main.sh")
    before = repo.git("status", "--porcelain", "--untracked-files=all")
    with tree_at_ref(repo.root / "app" / "ironship.yml", "HEAD") as tree:
        assert (tree.root / "w" / "main.sh").read_text() == "echo 1\n"
    assert (
        repo.git("status", "--porcelain", "--untracked-files=all") == before == "M  app/w/main.sh"
    )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no-such-branch", "--ref no-such-branch: no such commit in the repository of"),
        ("--output=x", "--ref '--output=x': not a git revision"),
        ("", "--ref '': not a git revision"),
    ],
)
def test_a_bad_ref_is_refused(repo: Repo, ref: str, message: str) -> None:
    """An unknown ref, or one that git could read as an option, is a clear error."""
    with (
        pytest.raises(IronshipError) as caught,
        tree_at_ref(repo.root / "app" / "ironship.yml", ref),
    ):
        pass
    assert message in caught.value.message


def test_outside_a_repository_and_a_missing_manifest(repo: Repo, tmp_path: Path) -> None:
    """Outside git, or at a commit without the manifest, --ref says why."""
    (tmp_path / "plain").mkdir()
    outside = tree_at_ref(tmp_path / "plain" / "ironship.yml", "HEAD")
    with pytest.raises(IronshipError, match="is not in a git repository"), outside:
        pass
    missing = tree_at_ref(repo.root / "app" / "other.yml", "HEAD")
    with pytest.raises(IronshipError, match=r"app/other.yml does not exist in commit"), missing:
        pass


def test_errors_about_the_checkout_name_the_ref(repo: Repo) -> None:
    """A manifest problem at that commit reads REF:path, not the scratch folder; it is removed."""
    repo.commit("broken", {"app/ironship.yml": MANIFEST.replace("main.sh", "gone.sh")})
    with (
        pytest.raises(ManifestError) as caught,
        tree_at_ref(repo.root / "app" / "ironship.yml", "HEAD") as tree,
    ):
        load_manifest(tree.manifest)
    assert "HEAD:app/ironship.yml:" in caught.value.message
    assert all("HEAD:app/ironship.yml:" in p for p in caught.value.problems)
    assert ".ironship" not in caught.value.message
    assert not any((repo.root / "app" / ".ironship").glob("ref-*"))
