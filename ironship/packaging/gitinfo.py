"""Git metadata for upload stamps: which commit a revision came from (PEERS R21).

The SHA is metadata only; it never feeds the content digest (PEERS pain point 7).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ironship.deploy.stamps import GIT_DIRTY_KEY, GIT_SHA_KEY


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


def git_stamp(directory: Path) -> dict[str, str]:
    """``IRONSHIP_GIT_SHA`` and ``IRONSHIP_GIT_DIRTY`` for a folder inside a git work tree."""
    sha = _git(directory, "rev-parse", "HEAD")
    if not sha:
        return {}
    status = _git(directory, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return {GIT_SHA_KEY: sha, GIT_DIRTY_KEY: "1" if status else "0"}
