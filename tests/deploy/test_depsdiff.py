"""A plan names what changed in a worker's vendored dependencies by package name and
version, never file by file (pure: deploy/depsdiff.py through plan_worker)."""

from __future__ import annotations

from pathlib import Path

from ironship.deploy.depsdiff import dependency_reasons, package_lines
from ironship.deploy.diff import plan_worker
from ironship.deploy.models import FileChanges, LocalWorker
from ironship.deploy.settings import content_digest, files_digest
from ironship.deploy.stamps import FILES_KEY
from ironship.iron.types import Code
from ironship.packaging.deps.model import Package, Vendored
from ironship.packaging.fileset import FileEntry, FileSet

SETTINGS = {"name": "w", "runtime": "sh", "file_name": "__runner__.sh", "env_vars": {}}


def tree(*packages: tuple[str, str], source_path: str | None = "requirements.txt") -> Vendored:
    found = tuple(Package(n, v, (f"__pips__/{n}/__init__.py",)) for n, v in packages)
    return Vendored("pip", "requirements.txt", "pip-key", found, source_path)


def local(files: dict[str, str], deps: tuple[Vendored, ...]) -> LocalWorker:
    entries = tuple(FileEntry(p, False, s, 1, Path("/x") / p) for p, s in sorted(files.items()))
    fs = FileSet("w", Path("/x"), entries, deps=deps, runner="__runner__.sh")
    return LocalWorker(fs, SETTINGS, content_digest(entries, SETTINGS), files_digest(entries))


def code(stamp: str) -> Code:
    return Code(
        id="a" * 24,
        name="w",
        rev=2,
        latest_checksum="0" * 32,
        runtime="sh",
        file_name="__runner__.sh",
        env_vars={FILES_KEY: stamp},
    )


def test_a_changed_requirements_file_lists_packages_by_version() -> None:
    """Packages added, removed and upgraded are listed under one dependencies line naming the
    requirements file; the vendored files themselves are not listed."""
    before = local(
        {
            "main.py": "1",
            "requirements.txt": "1",
            "__pips__/old/__init__.py": "1",
            "__pips__/tiny/__init__.py": "1",
        },
        (tree(("old", "1.0"), ("tiny", "1.0")),),
    )
    after = local(
        {
            "main.py": "1",
            "requirements.txt": "2",
            "__pips__/new/__init__.py": "1",
            "__pips__/tiny/__init__.py": "2",
        },
        (tree(("new", "0.1"), ("tiny", "1.1")),),
    )
    index = {f.path: (f.executable, f.sha256) for f in before.files}
    remote_deps = before.fileset.deps
    wp = plan_worker(after, code(before.files_digest), remote_files=index, remote_deps=remote_deps)
    assert wp.reasons == (
        "~ dependencies (requirements.txt changed)",
        "    + new 0.1",
        "    - old 1.0",
        "    ~ tiny 1.0 → 1.1",
        "~ requirements.txt",
    )
    assert wp.files is not None and "__pips__/new/__init__.py" in wp.files.added


def test_a_new_worker_lists_its_dependencies() -> None:
    """A worker the server does not have lists each tree and its packages after its count."""
    wp = plan_worker(local({"main.py": "1"}, (tree(("tiny", "1.0")),)), None)
    assert wp.reasons == (
        "new worker (1 file)",
        "+ dependencies (requirements.txt: 1 package)",
        "    + tiny 1.0",
    )


def test_dependencies_added_to_and_removed_from_a_worker() -> None:
    """A tree only on this side is '+ dependencies'; one only on the server '- dependencies'."""
    ours = tree(("tiny", "1.0"))
    added = FileChanges(added=("__pips__/tiny/__init__.py",))
    assert dependency_reasons([ours], [], added) == [
        "+ dependencies (requirements.txt: 1 package)",
        "    + tiny 1.0",
    ]
    removed = FileChanges(removed=("__pips__/tiny/__init__.py",))
    assert dependency_reasons([], [ours], removed) == [
        "- dependencies (1 package)",
        "    - tiny 1.0",
    ]


def test_same_source_installed_differently_says_so() -> None:
    """With the requirements file unchanged, the line says the tree was reinstalled, and when
    no version moved, that only the files differ."""
    ours, theirs = tree(("tiny", "1.0")), tree(("tiny", "1.0"))
    changed = FileChanges(changed=("__pips__/tiny/__init__.py",))
    assert dependency_reasons([ours], [theirs], changed) == [
        "~ dependencies (reinstalled; requirements.txt unchanged)",
        "    same packages; their files differ",
    ]
    inline = tree(("tiny", "1.0"), source_path=None)
    assert dependency_reasons([inline], [theirs], changed)[0] == (
        "~ dependencies (requirements.txt changed)"
    )


def test_untouched_trees_and_several_versions() -> None:
    """A tree whose files did not change says nothing; npm's several versions of one name
    are shown together."""
    assert dependency_reasons([tree(("tiny", "1.0"))], [], FileChanges(changed=("main.py",))) == []
    assert package_lines({"a": ("1.0", "2.0")}, {"a": ("2.0",)}) == ["    ~ a 1.0, 2.0 → 2.0"]
