"""A finished task whose result cannot be stored (a full disk outlasting the retries) is kept
by the dispatcher and stored at a later pass: it never stays 'running' without a process."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from engine_helpers import Api

from ironship.engine.server import EngineServer
from ironship.engine.state.runs import Outcome, RunRepo


class FullDiskRuns:
    """The engine's runs repository, with its first ``failures`` result writes failing as
    SQLite fails on a full disk (after its own retries); everything else passes through."""

    def __init__(self, real: RunRepo, failures: int) -> None:
        self._real = real
        self._left = failures
        self.attempts = 0
        self.failed_once = threading.Event()

    def finish(self, task_id: str, outcome: Outcome) -> str | None:
        self.attempts += 1
        if self._left > 0:
            self._left -= 1
            self.failed_once.set()
            raise sqlite3.OperationalError("database or disk is full")
        return self._real.finish(task_id, outcome)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_result_that_cannot_be_stored_is_stored_later(tmp_path: Path) -> None:
    """Three failed writes of a task's result: the task is still 'running' meanwhile, then
    ends 'complete' with its log, and the dispatcher kept running other tasks."""
    with EngineServer(tmp_path / "engine", poll_interval=0.02) as engine:
        dispatcher = engine._dispatcher
        assert dispatcher is not None
        runs = FullDiskRuns(dispatcher._runs, failures=3)
        dispatcher._runs = runs  # type: ignore[assignment]
        api = Api(engine.url, engine.project_id, engine.token)
        api.upload("hello", {"worker.py": "print('hello')\n"})
        first = api.queue("hello")
        assert runs.failed_once.wait(30), "the result was never written"
        assert api.task(first)["status"] in ("running", "complete")
        done = api.wait(first)
        assert done["status"] == "complete"
        assert runs.attempts >= 4
        assert "hello" in api.log(first)
        second = api.wait(api.queue("hello"))
        assert second["status"] == "complete"
