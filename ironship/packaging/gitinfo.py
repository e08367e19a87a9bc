"""Git facts about a worker's folder for the upload stamps: its commit, its ref, dirty or not.

The commit is metadata only; it never feeds the content digest (docs/architecture.md, Stamps).
The rule, so that a stamp never claims more than git can vouch for:

- a folder outside any git work tree gets **no** commit, no ref and is not dirty: git says
  nothing about it;
- a folder in a repository with no commit yet, or with no file of it in the HEAD commit
  (never committed) gets no commit, and is dirty: its files differ from every commit;
- otherwise its commit is the **inputs' commit**: the last commit at or before HEAD that
  touched the folder or one of the ``also`` paths (the manifest), as
  ``git log -1 --format=%H HEAD -- <folder> <manifest>`` says. A commit that changed only
  another worker leaves it alone, so two workers of one repository carry different commits.
  It is dirty when anything under the folder differs from HEAD: a file modified, staged,
  deleted, or untracked and not ignored by git (an untracked file under a worker's root
  usually ships).

The ref is the tag on HEAD (``git describe --tags --exact-match``), else the branch, else
``detached``.

Values that reach git from outside (a SHA read from a server's stamps, a prefix typed by a
user) are checked to be hexadecimal first, so they can never be read as an option.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DETACHED = "detached"
_HEX = re.compile(r"[0-9a-f]{4,64}")


@dataclass(frozen=True)
class GitState:
    """What git says about one folder."""

    in_repo: bool  # inside a git work tree
    sha: str | None  # the inputs' commit, when the folder has files in the HEAD commit
    dirty: bool  # something under the folder differs from HEAD (untracked files included)
    ref: str | None = None  # the tag on HEAD, else the branch, else "detached"

    @property
    def tracked(self) -> bool:
        """The folder has files in the HEAD commit, so the commit describes it."""
        return self.sha is not None


def git(
    directory: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> str | None:
    """git's stdout (stripped) for ``git -C directory ARGS``; None when git fails or is missing.

    Pathspecs are literal (``--literal-pathspecs``): a file called ``*.py`` means that file.
    """
    try:
        done = subprocess.run(
            ["git", "--literal-pathspecs", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=dict(env) if env is not None else None,
            input=stdin,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def is_hex_sha(text: str, minimum: int = 4) -> bool:
    """True for a lowercase or uppercase hexadecimal commit name of at least ``minimum``."""
    return len(text) >= minimum and _HEX.fullmatch(text.lower()) is not None


def in_work_tree(directory: Path) -> bool:
    return directory.is_dir() and git(directory, "rev-parse", "--is-inside-work-tree") == "true"


def head_commit(directory: Path) -> str | None:
    """The HEAD commit of the repository holding ``directory`` (None: none, or no repository)."""
    if not directory.is_dir():
        return None
    return git(directory, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") or None


def current_ref(directory: Path) -> str | None:
    """The tag on HEAD, else the branch checked out, else ``detached``; None outside a repo."""
    if not in_work_tree(directory):
        return None
    tag = git(directory, "describe", "--tags", "--exact-match", "HEAD")
    if tag:
        return tag
    return git(directory, "symbolic-ref", "--short", "-q", "HEAD") or DETACHED


def _inside(paths: Sequence[Path], top: str) -> list[str]:
    """The paths that lie in the work tree ``top`` (git refuses a pathspec outside it)."""
    root = os.path.realpath(top)
    out = []
    for p in paths:
        real = os.path.realpath(p)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            out.append(real)
    return out


def inputs_commit(directory: Path, paths: Sequence[Path], at: str = "HEAD") -> str | None:
    """The last commit at or before ``at`` that touched any of ``paths`` (None: none did)."""
    top = git(directory, "rev-parse", "--show-toplevel")
    inside = _inside(paths, top) if top else []
    if not inside:
        return None
    return git(directory, "log", "-1", "--format=%H", at, "--", *inside) or None


def git_state(directory: Path, also: Sequence[Path] = ()) -> GitState:
    """The inputs' commit, ref and cleanliness of ``directory``; ``also`` adds inputs (the
    manifest) whose commits count as the folder's too. No repository, no git: not in a repo."""
    if not in_work_tree(directory):
        return GitState(in_repo=False, sha=None, dirty=False)
    ref = current_ref(directory)
    # HEAD:./ is this folder's tree in the commit; it does not exist when nothing under the
    # folder was ever committed.
    if not head_commit(directory) or not git(
        directory, "rev-parse", "--verify", "--quiet", "HEAD:./"
    ):
        return GitState(in_repo=True, sha=None, dirty=True, ref=ref)
    sha = inputs_commit(directory, [directory, *also])
    status = git(directory, "status", "--porcelain", "--untracked-files=all", "--", ".")
    return GitState(in_repo=True, sha=sha, dirty=status is None or bool(status), ref=ref)


def resolve_commit(directory: Path, name: str) -> str | None:
    """The full SHA of the local commit that the hex prefix ``name`` names uniquely, else None."""
    if not is_hex_sha(name) or not directory.is_dir():
        return None
    return git(directory, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}") or None


def commit_subject(directory: Path, sha: str) -> str | None:
    """The subject line of commit ``sha`` when the local repository has it, else None."""
    if not is_hex_sha(sha) or not directory.is_dir():
        return None
    return git(directory, "log", "-1", "--format=%s", f"{sha}^{{commit}}", "--") or None
