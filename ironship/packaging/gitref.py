"""Build from a commit, not the working tree: the manifest's folder as a git commit holds it.

``tree_at_ref`` checks the manifest's folder out of a commit's objects into a scratch folder
under ``.ironship/`` beside the manifest, and removes it afterwards. It fills a throw-away
index (``GIT_INDEX_FILE`` in the scratch folder) with ``git read-tree`` and writes the files
with ``git checkout-index --prefix``, which is what a checkout writes: exec bits as git
stores them (0755 or 0644), symlinks as symlinks, the repository's line-ending attributes
applied. The repository's own index, work tree and refs are never touched, so a commit
made meanwhile is unaffected. Packaging the result with the normal rules gives the same
digests and byte-identical zips as a clean working tree at that commit.

Only the manifest's folder is checked out: every worker's root lies in it
(docs/architecture.md; the manifest refuses a root outside it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ironship import paths
from ironship.errors import IronshipError, ManifestError
from ironship.packaging.gitinfo import git, in_work_tree


@dataclass(frozen=True)
class RefTree:
    """The manifest's folder as commit ``commit`` (named ``ref`` by the user) holds it."""

    ref: str  # as given: a branch, a tag, a SHA, HEAD~2 ...
    commit: str  # the full SHA it names
    base: Path  # the manifest's folder in the working tree
    root: Path  # the same folder as of the commit, checked out under .ironship/
    manifest: Path  # the manifest as of the commit (inside root)

    def original(self, path: Path) -> Path:
        """Where ``path`` (under ``root``) lies in the working tree."""
        return self.base / path.relative_to(self.root)


def _checked_ref(ref: str) -> str:
    if not ref.strip() or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise IronshipError(
            f"--ref {ref!r}: not a git revision",
            hint="give a commit SHA, a branch or a tag (for example --ref HEAD or --ref v1.2)",
        )
    return ref


def _commit_of(base: Path, ref: str) -> str:
    if not in_work_tree(base):
        raise IronshipError(
            f"--ref {ref}: {base} is not in a git repository",
            hint="--ref builds from a commit of the manifest's repository; drop --ref to build "
            "from the files as they are",
        )
    commit = git(base, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not commit:
        raise IronshipError(
            f"--ref {ref}: no such commit in the repository of {base}",
            hint="give a commit SHA, a branch or a tag that `git rev-parse` knows "
            "(git fetch first when it lives on a remote)",
        )
    return commit


def _checkout(top: Path, commit: str, prefix: str, scratch: Path) -> Path:
    """Write the files under ``prefix`` of ``commit`` to ``scratch/tree``; return that tree."""
    env = {**os.environ, "GIT_INDEX_FILE": str(scratch / "index")}
    tree = scratch / "tree"
    tree.mkdir()
    if git(top, "read-tree", commit, env=env) is None:
        raise IronshipError(f"git read-tree {commit} failed in {top}")
    names = git(top, "ls-files", "-z", "--full-name", "--", prefix or ".", env=env)
    if names is None:
        raise IronshipError(f"git ls-files failed in {top}")
    if names and (
        git(top, "checkout-index", "-z", "--stdin", f"--prefix={tree}/", env=env, stdin=names)
        is None
    ):
        raise IronshipError(f"git checkout-index of {commit} failed in {top}")
    return tree


def _relabel(exc: IronshipError, old: str, new: str) -> None:
    """Say ``REF:path`` instead of the scratch folder in a message about the checked-out tree."""
    exc.message = exc.message.replace(old, new)
    exc.args = (exc.message,)
    if exc.hint:
        exc.hint = exc.hint.replace(old, new)
    if isinstance(exc, ManifestError):
        exc.problems = [p.replace(old, new) for p in exc.problems]


@contextmanager
def tree_at_ref(manifest: Path, ref: str) -> Iterator[RefTree]:
    """The manifest's folder at ``ref``, checked out under ``.ironship/``; removed on exit.

    An error raised inside the block names files as ``REF:path`` rather than the scratch
    folder.
    """
    base = manifest.resolve().parent
    commit = _commit_of(base, _checked_ref(ref))
    top = Path(git(base, "rev-parse", "--show-toplevel") or base)
    prefix = git(base, "rev-parse", "--show-prefix") or ""
    name = prefix + manifest.name
    if git(base, "cat-file", "-e", f"{commit}:{name}") is None:
        raise IronshipError(
            f"--ref {ref}: {name} does not exist in commit {commit[:7]}",
            hint="check the commit with `git show --stat`, or pass the manifest that commit "
            "has with -f",
        )
    scratch = Path(tempfile.mkdtemp(prefix="ref-", dir=paths.ensure_state_dir(base)))
    try:
        root = _checkout(top, commit, prefix, scratch) / prefix
        here = RefTree(ref, commit, base, root, root / manifest.name)
        try:
            yield here
        except IronshipError as exc:
            _relabel(exc, str(root) + os.sep, f"{ref}:{prefix}")
            _relabel(exc, str(root), f"{ref}:{prefix or '.'}")
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
