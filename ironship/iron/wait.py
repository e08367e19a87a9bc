"""Waiting for a task to finish: the one polling loop every command and the smoke runner use.

Every wait has an upper bound, and time is injected (``clock``, ``sleep``) so tests never
sleep for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ironship.iron.types import Task

Clock = Callable[[], float]
Sleep = Callable[[float], None]

DEFAULT_POLL = 0.3


class TaskReader(Protocol):
    def get_task(self, task_id: str) -> Task: ...


def wait_for_task(
    client: TaskReader,
    task_id: str,
    *,
    timeout: float,
    poll: float = DEFAULT_POLL,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Task:
    """Poll ``task_id`` until it finishes or ``timeout`` seconds pass.

    Returns the last state read: check ``task.finished`` to tell a finished task from one
    that was still queued or running at the deadline.
    """
    deadline = clock() + timeout
    while True:
        task = client.get_task(task_id)
        now = clock()
        if task.finished or now >= deadline:
            return task
        sleep(max(0.0, min(poll, deadline - now)))
