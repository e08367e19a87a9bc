"""``EngineState``: the repositories over one ``Db``, assembled once and handed around.

The http layer and the dispatcher both receive this object, never a ``Db``: each reaches the
repository it needs (``state.codes``, ``state.tasks``, ``state.runs``...). Every repository
is built here by composition over the same connection, so they share its lock, transactions
and clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ironship.engine.state.codes import CodeRepo
from ironship.engine.state.db import Clock, Db
from ironship.engine.state.folders import Folders
from ironship.engine.state.projects import ProjectRepo
from ironship.engine.state.runs import RunRepo
from ironship.engine.state.schedules import ScheduleRepo
from ironship.engine.state.tasks import TaskRepo


@dataclass(frozen=True)
class EngineState:
    """All engine state of one data folder; every method is safe to call from any thread."""

    files: Folders
    db: Db
    projects: ProjectRepo
    codes: CodeRepo
    tasks: TaskRepo
    schedules: ScheduleRepo
    runs: RunRepo

    @classmethod
    def open(cls, data_dir: Path, clock: Clock = time.time) -> EngineState:
        """Create the data folder's layout if needed and open its database."""
        files = Folders.create(data_dir)
        db = Db(files.db_file, clock)
        tasks = TaskRepo(db)
        return cls(
            files=files,
            db=db,
            projects=ProjectRepo(db, files.token_file),
            codes=CodeRepo(db),
            tasks=tasks,
            schedules=ScheduleRepo(db, tasks),
            runs=RunRepo(db, tasks),
        )

    def recover(self) -> int:
        """After a stop or crash: tasks left running become errors (returns how many), and
        unfinished uploads, task folders and unused blobs are removed."""
        recovered = self.runs.recover_running()
        self.files.clean_leftovers(self.codes.used_blobs())
        return recovered

    def close(self) -> None:
        self.db.close()
