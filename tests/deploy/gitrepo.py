"""A real temporary git repository for tests: fixed identity, no user or system configuration."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}

# Nothing from the environment running the tests: no CI, no CI user, a known local user.
PLAIN_ENV = {
    k: ""
    for k in (
        "CI",
        "GITHUB_ACTOR",
        "GITLAB_USER_LOGIN",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "CI_JOB_URL",
        "BUILD_URL",
        "SOURCE_DATE_EPOCH",
    )
} | {"USER": "tester"}


def git(folder: Path, *args: str) -> str:
    """Run git in ``folder`` with a fixed identity and no user or system configuration."""
    done = subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return done.stdout.strip()


class Repo:
    """A git work tree at ``root`` (``init`` makes it one, on branch ``main``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str) -> str:
        """Run git here with a fixed identity; its stdout, stripped."""
        return git(self.root, *args)

    def init(self) -> Repo:
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        return self

    def write(self, files: Mapping[str, str]) -> None:
        for rel, text in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def commit(self, message: str, files: Mapping[str, str] | None = None) -> str:
        """Write ``files``, commit everything with ``message``; return the new HEAD."""
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.head

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")
