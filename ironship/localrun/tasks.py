"""Local runs behind the four calls the smoke runner makes (``smoke.runner.SmokeClient``).

``run --smoke`` hands a ``LocalTasks`` to ``smoke.runner.run_smoke`` in place of the API
client: queueing starts the task here (``localrun.task``), reading it reports the runner's
result as a Task, reading its log reads the file the runner writes. The waiting, the
timeouts, the checks and the report are those of ``ironship test``, unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ironship.engine.run.runner import TaskProcess
from ironship.engine.run.spec import RunSpec
from ironship.errors import IronshipError
from ironship.iron.types import Task
from ironship.localrun.task import Packages, note_unstarted, start, wait_ended
from ironship.manifest.models import Manifest


@dataclass
class _Run:
    worker: str
    spec: RunSpec
    proc: TaskProcess
    noted: bool = False


class LocalTasks:
    """Tasks of ``manifest``'s workers run on this machine, one process each."""

    def __init__(self, manifest: Manifest, packages: Packages) -> None:
        self._manifest = manifest
        self._packages = packages
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def queue_task(self, code_name: str, payload: str, **options: Any) -> str:
        worker = self._manifest.worker(code_name)
        if worker is None:
            raise IronshipError(f"{self._manifest.path}: no worker named {code_name!r}")
        timeout = options.get("timeout")
        spec = self._packages.spec(worker, payload, timeout=timeout)
        proc = start(spec)
        with self._lock:
            self._runs[spec.task_id] = _Run(code_name, spec, proc)
        return spec.task_id

    def get_task(self, task_id: str) -> Task:
        run = self._run(task_id)
        result = run.proc.poll()
        if result is None:
            return Task(task_id, run.worker, None, None, "running", timeout=_secs(run.spec))
        with self._lock:
            if not run.noted:  # before anyone reads the log of the finished task
                note_unstarted(run.spec, result)
                run.noted = True
        return Task(
            task_id,
            run.worker,
            None,
            None,
            result.status,
            msg=result.msg,
            duration=result.duration_ms,
            timeout=_secs(run.spec),
        )

    def get_log(self, task_id: str) -> str | None:
        run = self._run(task_id)
        try:
            return run.spec.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return None

    def cancel_task(self, task_id: str) -> None:
        run = self._run(task_id)
        run.proc.cancel()
        wait_ended(run.proc)

    def close(self) -> None:
        """Stop every task still running (Ctrl-C during ``run --smoke``) and wait for it."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.proc.cancel()
        for run in runs:
            wait_ended(run.proc)

    def _run(self, task_id: str) -> _Run:
        with self._lock:
            run = self._runs.get(task_id)
        if run is None:
            raise IronshipError(f"no local task {task_id}")
        return run


def _secs(spec: RunSpec) -> int:
    return int(spec.timeout)
