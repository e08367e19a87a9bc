"""Fixtures shared by the CLI, client and end-to-end tests: one real engine per test module.

A module that needs a differently configured engine defines its own ``engine`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Cli, Project, cli_for, new_project

from ironship.engine.server import EngineServer


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    """A real engine on 127.0.0.1:0 for this module, polling its queue every 20 ms."""
    with EngineServer(tmp_path_factory.mktemp("engine"), poll_interval=0.02) as eng:
        yield eng


@pytest.fixture
def project(engine: EngineServer) -> Project:
    """A project (and token) of this test's own on the module's engine."""
    return new_project(engine)


@pytest.fixture
def project_cli(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """``ironship ARGS`` run in-process in ``tmp_path``, on this test's own project."""
    return cli_for(project, tmp_path, capsys, monkeypatch)
