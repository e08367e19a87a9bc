"""Engine fixtures: one engine for the session (fast), fresh ones where state matters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import Api

from ironship.engine.local import create_project
from ironship.engine.server import EngineServer


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    """A shared engine on 127.0.0.1:0 with 2 workers and a short poll interval."""
    with EngineServer(tmp_path_factory.mktemp("engine"), workers=2, poll_interval=0.02) as eng:
        yield eng


@pytest.fixture(scope="session")
def api(engine: EngineServer) -> Api:
    """The shared engine's own project."""
    return Api(engine.url, engine.project_id, engine.token)


@pytest.fixture(scope="session")
def other_api(engine: EngineServer) -> Api:
    """A second project (with its own token) on the shared engine."""
    pid, token = create_project(engine.data_dir, "other")
    return Api(engine.url, pid, token)


@pytest.fixture
def name() -> str:
    """A code name unique to the test, so tests sharing the engine never see each other."""
    return "w-" + uuid.uuid4().hex[:10]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh engine data folder."""
    return tmp_path / "data"
