"""The dispatcher: one thread that turns queued tasks into processes and records how they end.

Each pass: record finished tasks (re-queueing retries), deliver cancels, fire due schedules,
then start queued tasks while there is room: highest priority first, then oldest; skipping
paused codes, delayed tasks and codes at their ``max_concurrency``; never more than
``workers`` at once (the queue fields of docs/ironworker-api.md §3 (Tasks)). It sleeps
``poll_interval`` between passes and wakes at once when a task is queued or cancelled or a
process ends. It reads and writes state only through ``EngineState`` (``state.runs`` and
``state.schedules``) and processes only through the task host (``host``), which runs
``runner`` in a process of its own that holds no secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ironship.engine.run import limits
from ironship.engine.run.host import TaskHost
from ironship.engine.run.runner import start as runner_start
from ironship.engine.run.spec import (
    DEFAULT_DISK_LIMIT_MB,
    DEFAULT_LOG_LIMIT_MB,
    RunningTask,
    RunSpec,
)
from ironship.engine.state.engine_state import EngineState
from ironship.engine.state.model import Row
from ironship.engine.state.runs import Outcome

log = logging.getLogger("ironship.engine")

# A package uploaded without a runtime (e.g. by a client that only sends file_name) runs with
# the runtime its entry file's extension implies.
_BY_EXTENSION = {".py": "python", ".php": "php", ".js": "node", ".rb": "ruby", ".sh": "sh"}


@dataclass(frozen=True)
class _Running:
    proc: RunningTask
    code_id: str


def _runtime_for(rev: Row) -> str | None:
    if rev["runtime"]:
        return str(rev["runtime"])
    name = str(rev["file_name"] or "")
    for ext, runtime in _BY_EXTENSION.items():
        if name.endswith(ext):
            return runtime
    return None


class Dispatcher:
    """Runs tasks from ``state`` with at most ``workers`` processes at once, each process
    capped at ``task_memory`` MB, each log at ``task_log_mb`` and each task directory at
    ``task_disk_mb`` (0: no cap).

    Tasks are started from this dispatcher's own long-lived thread: a task's parent-death
    signal fires when the thread that forked it ends (see ``sandbox``)."""

    def __init__(
        self,
        state: EngineState,
        workers: int,
        poll_interval: float,
        start: Callable[[RunSpec], RunningTask] | None = None,
        task_memory: int = 0,
        task_log_mb: int = DEFAULT_LOG_LIMIT_MB,
        task_disk_mb: int = DEFAULT_DISK_LIMIT_MB,
        sandboxed: bool = True,
    ) -> None:
        self._state = state
        self._runs = state.runs
        self._files = state.files
        self._now = state.db.now
        self._workers = max(1, workers)
        self._poll = poll_interval
        # Tasks are started by the task host (see ``host``) unless ``start`` is given.
        file_cap = limits.file_limit(task_disk_mb, task_log_mb)
        self._host = (
            TaskHost(sandboxed, self._workers, task_memory, file_cap) if start is None else None
        )
        # The host holds up to ``workers`` more, prepared, to start as soon as one ends.
        self._prefetch = self._workers if self._host is not None else 0
        self._start_process = start or runner_start
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._task_memory = task_memory  # MB per task process; 0: no cap
        self._task_log_mb = task_log_mb  # MB of log per task; 0: no cap
        self._task_disk_mb = task_disk_mb  # MB of task directory; 0: no cap
        self._running: dict[str, _Running] = {}
        # Tasks whose process ended but whose result could not be stored yet (a full disk):
        # tried again at every pass, so none stays 'running' without a process.
        self._unrecorded: dict[str, Outcome] = {}
        self._cancels: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the dispatching thread (which starts the task host); OSError when the task
        host cannot start."""
        self._thread = threading.Thread(target=self._loop, name="ironship-dispatch", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            self._thread.join()
            raise OSError(f"the engine's task host did not start: {self._failed}")

    def task_limits(self) -> dict[str, int | None]:
        """Each task's caps in MB (None: no cap), for the engine's info."""
        return {
            "task_memory_mb": self._task_memory or None,
            "task_log_mb": self._task_log_mb or None,
            "task_disk_mb": self._task_disk_mb or None,
        }

    def _started(self, task_id: str) -> None:
        """The task host started ``task_id``'s process (its reading thread calls this): it is
        running from now, unless it was cancelled meanwhile, when it is stopped at once."""
        try:
            running = self._runs.mark_running(task_id, self._now())
        except sqlite3.Error as exc:
            log.warning("task %s: could not be marked running (%s); stopping it", task_id, exc)
            running = False
        if not running:
            self.cancel(task_id)

    @property
    def host_pid(self) -> int | None:
        """The task host's pid (None when tasks start in this process)."""
        return self._host.pid if self._host is not None else None

    def stop(self) -> None:
        """Stop dispatching and kill running processes; their tasks stay 'running' in the
        state, exactly as after a crash, so the next start marks them "engine restarted"."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        for item in self._running.values():
            item.proc.kill()
        self._running.clear()
        if self._host is not None:
            self._host.close()

    def wake(self) -> None:
        """Run a pass now (a task was queued, a queue resumed...)."""
        self._wake.set()

    def cancel(self, task_id: str) -> None:
        """Kill ``task_id``'s process if it runs (its status is already 'cancelled')."""
        with self._lock:
            self._cancels.add(task_id)
        self._wake.set()

    def _loop(self) -> None:
        # The host is started from this thread: it dies when the thread that forked it ends.
        try:
            if self._host is not None:
                self._host.ensure_started()
        except OSError as exc:
            self._failed = exc
            return
        finally:
            self._ready.set()
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._pass()
            except Exception:  # the dispatcher must outlive any one bad task
                log.exception("dispatcher pass failed")
            self._wake.wait(self._poll)

    def _pass(self) -> None:
        self._reap()
        self._deliver_cancels()
        if self._state.schedules.fire_due(self._now()):
            self._wake.set()
        self._start_ready()

    def _record(self, task_id: str, outcome: Outcome) -> None:
        """Store a finished task's result; when the state cannot take it now, keep it for the
        next pass (never dropped)."""
        try:
            retry = self._runs.finish(task_id, outcome)
        except sqlite3.Error as exc:
            if task_id not in self._unrecorded:
                log.warning("task %s: result not stored yet (%s); trying again", task_id, exc)
            self._unrecorded[task_id] = outcome
            return
        self._unrecorded.pop(task_id, None)
        if retry:
            self._wake.set()

    def _reap(self) -> None:
        for task_id, outcome in list(self._unrecorded.items()):
            self._record(task_id, outcome)
        for task_id, item in list(self._running.items()):
            result = item.proc.poll()
            if result is None:
                continue
            del self._running[task_id]
            log_path = self._files.log_path(task_id)
            if result.status == "error" and result.exit_code is None and result.error_class is None:
                # No process ran (missing runtime, bad package): the log says why.
                with contextlib.suppress(OSError), log_path.open("a", encoding="utf-8") as fh:
                    fh.write((result.msg or "the task could not start") + "\n")
            size = log_path.stat().st_size if log_path.exists() else None
            outcome = Outcome(
                status=result.status,
                msg=result.msg,
                error_class=result.error_class,
                exit_code=result.exit_code,
                duration_ms=result.duration_ms,
                log_size=size,
            )
            self._record(task_id, outcome)

    def _deliver_cancels(self) -> None:
        with self._lock:
            cancels, self._cancels = self._cancels, set()
        for task_id in cancels:
            item = self._running.get(task_id)
            if item is not None:
                item.proc.cancel()

    def _start_ready(self) -> None:
        per_code: dict[str, int] = {}
        for item in self._running.values():
            per_code[item.code_id] = per_code.get(item.code_id, 0) + 1
        blocked: set[str] = set()
        for code_id, count in per_code.items():
            limit = self._runs.max_concurrency(code_id)
            if limit is not None and count >= limit:
                blocked.add(code_id)
        while len(self._running) < self._workers + self._prefetch and not self._stopping.is_set():
            task = self._runs.next_runnable(self._now(), blocked, exclude=self._running.keys())
            if task is None:
                return
            code_id = str(task["code_id"])
            limit = self._runs.max_concurrency(code_id)
            if limit is not None and per_code.get(code_id, 0) >= limit:
                blocked.add(code_id)
                continue
            if self._launch(task):
                per_code[code_id] = per_code.get(code_id, 0) + 1

    def _launch(self, task: Row) -> bool:
        task_id = str(task["id"])
        # In-process, the task is running from now; the task host says when it starts.
        if self._host is None and not self._runs.mark_running(task_id, self._now()):
            return False
        rev = self._runs.revision(task["revision_id"])
        problem: str | None = None
        runtime = _runtime_for(rev) if rev else None
        if rev is None:
            problem = "the code package revision of this task no longer exists"
        elif not rev["blob"]:
            problem = "this code has no zip package (image workers do not run on the local engine)"
        elif not rev["file_name"]:
            problem = "this code package has no file_name to run"
        elif runtime is None:
            problem = "this code package has no runtime"
        log_path = self._files.log_path(task_id)
        if problem or rev is None or runtime is None:
            msg = problem or "cannot start"
            # The log says why too, so a client waiting for it gets an answer.
            log_path.write_text(msg + "\n", encoding="utf-8")
            self._runs.fail_unstarted(task_id, msg, "EngineSetup")
            return False
        # Created now so that GET log answers (with output so far) as soon as the task runs.
        os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
        env = json.loads(rev["env_vars"]) if rev["env_vars"] else {}
        spec = RunSpec(
            task_id=task_id,
            zip_path=self._files.blob_path(rev["blob"]),
            runtime=runtime,
            file_name=str(rev["file_name"]),
            payload=str(task["payload"]),
            config=rev["config"],
            env_vars={str(k): str(v) for k, v in env.items()},
            timeout=float(task["timeout"]),
            work_root=self._files.work_dir,
            log_path=log_path,
            schedule_id=task["schedule_id"],
            stack=rev["stack"] or None,
            memory_mb=self._task_memory,
            log_limit_mb=self._task_log_mb,
            disk_limit_mb=self._task_disk_mb,
            hidden=(self._files.root.absolute(),),
        )
        proc: RunningTask
        if self._host is not None:
            proc = self._host.start(spec, on_started=lambda: self._started(task_id))
        else:
            proc = self._start_process(spec)
        self._running[task_id] = _Running(proc, str(task["code_id"]))
        proc.add_done_callback(self._wake.set)
        return True
