"""Fixtures of the deploy-core unit tests: an in-memory IronWorker and two workers on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy.fakes import FakeIron
from deploy.workspace import Uploader, Workspace, prints


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """Two workers: alpha (two files, max_concurrency 5) and beta (one file)."""
    space = Workspace(tmp_path / "project")
    space.worker("alpha", {"main.py": prints("1"), "lib.py": "A = 1\n"}, max_concurrency=5)
    space.worker("beta", {"main.py": prints("2")})
    return space


@pytest.fixture
def server() -> FakeIron:
    return FakeIron()


@pytest.fixture
def uploader(tmp_path: Path) -> Uploader:
    return Uploader(tmp_path / "uploads")
