"""Git facts about a worker's folder for the upload stamps: its commit, and whether it matches.

The commit is metadata only; it never feeds the content digest (docs/architecture.md, Stamps).
The rule, so that a stamp never claims more than git can vouch for:

- a folder outside any git work tree, in a repository with no commit yet, or with no file of
  it in the HEAD commit (never committed) gets **no** stamp: the commit says nothing about it;
- otherwise it is stamped with the HEAD commit, and as dirty when anything under the folder
  differs from that commit: a file modified, staged, deleted, or untracked and not ignored by
  git (an untracked file under a worker's root usually ships).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    """What git says about one folder."""

    in_repo: bool  # inside a git work tree
    sha: str | None  # the HEAD commit, when the folder has files in it
    dirty: bool  # something under the folder differs from HEAD (untracked files included)

    @property
    def tracked(self) -> bool:
        """The folder has files in the HEAD commit, so the commit describes it."""
        return self.sha is not None


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(directory: Path) -> GitState:
    """The commit and cleanliness of ``directory`` (no repository, no git: not in a repo)."""
    if not directory.is_dir() or _git(directory, "rev-parse", "--is-inside-work-tree") != "true":
        return GitState(in_repo=False, sha=None, dirty=False)
    sha = _git(directory, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    # HEAD:./ is this folder's tree in the commit; it does not exist when nothing under the
    # folder was ever committed.
    if not sha or not _git(directory, "rev-parse", "--verify", "--quiet", "HEAD:./"):
        return GitState(in_repo=True, sha=None, dirty=True)
    status = _git(directory, "status", "--porcelain", "--untracked-files=all", "--", ".")
    return GitState(in_repo=True, sha=sha, dirty=status is None or bool(status))
