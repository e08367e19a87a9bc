"""The task host: a small process that starts and watches tasks for the engine, holding no
secret.

The engine never forks a task itself. At its start the dispatcher starts this module as a
fresh interpreter (``python -I -S``: no site packages, no ``PYTHON*`` variables) with an
environment of ``PATH`` and ``LANG`` only (and ``IRONSHIP_SANDBOX=none`` when the engine found
no sandbox), connected to the engine by one socketpair. The host never opens the database nor
reads a credential: the engine sends it each task's ``RunSpec`` and it runs ``runner.start``
there, so a task's parent and its parent's environment hold nothing of the engine's. The
engine itself is non-dumpable (``sandbox.make_undumpable``), so a task run without a sandbox
cannot read the engine's ``/proc/<pid>/environ`` or memory either.

Protocol: one JSON object per line each way.
  engine → host   {"op": "start", "spec": {...}}   {"op": "cancel" | "kill", "id": ID}
  host → engine   {"op": "started", "id": ID, "pid": PID|null}
                  {"op": "result", "id": ID, "result": {...}}
A start is not answered before the next is sent: the dispatcher does not wait for the host.
When the engine closes its end (or dies) the host kills every task and exits; the host dies
with the engine (``PR_SET_PDEATHSIG``) and its tasks with it (theirs). When the host dies
(a task of the same user can kill it), its running tasks end with an error, their leftover
processes are killed, and the next task starts a new host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ironship.engine.run import runner, sandbox
from ironship.engine.run.runtimes import remove_tree
from ironship.engine.run.spec import (
    RunResult,
    RunSpec,
    result_from_wire,
    result_to_wire,
    spec_from_wire,
    spec_to_wire,
)

# What the host process is started with: the folder holding the ``ironship`` package first
# on sys.path (it may run from a checkout, and -I ignores PYTHONPATH), then the main loop.
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from ironship.engine.run.host import main; main()"
)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
_PASSED_ENV = ("PATH", "LANG")
KILL_WAIT = runner.DRAIN_GRACE + 3.0  # how long ``kill`` waits for the task's result
REAP_EVERY = 0.5  # seconds between two looks for orphans to reap
HOST_GONE = "the task host ended while the task ran; the task's processes were killed"


# --- the host process ------------------------------------------------------------------------


def main() -> None:
    """The host's main loop (``python -m``-like entry, see ``_BOOT``): argv[2] is the socket's
    descriptor, argv[3] the engine's pid."""
    fd, engine_pid = int(sys.argv[2]), int(sys.argv[3])
    sandbox.make_undumpable()
    # The parent-death signal was armed by the engine's preexec_fn.
    if os.getppid() != engine_pid:
        return  # the engine died before this process got going
    conn = socket.socket(fileno=fd)
    Host(conn, subreaper=sandbox.become_subreaper()).serve()


class Host:
    """Runs tasks as the engine asks over ``conn``; every task is started from the thread that
    calls ``serve`` (its parent-death signal follows that thread)."""

    def __init__(self, conn: socket.socket, subreaper: bool = False) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self._tasks: dict[str, runner.TaskProcess] = {}
        self._tasks_lock = threading.Lock()
        self._stop = threading.Event()
        if subreaper:
            threading.Thread(target=self._reap, name="reaper", daemon=True).start()

    def serve(self) -> None:
        reader = self._conn.makefile("rb")
        try:
            for line in reader:
                self._handle(json.loads(line))
        except (OSError, ValueError):
            pass
        finally:
            self._stop.set()
            self._end_all()

    def _reap(self) -> None:
        """Reap the orphans this subreaper inherits (a task's leftovers, once killed)."""
        while not self._stop.wait(REAP_EVERY):
            with self._tasks_lock:  # a task started but not yet listed is never reaped here
                known = {t.pid for t in self._tasks.values() if t.pid is not None}
                sandbox.reap_orphans(known)

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "start":
            spec = spec_from_wire(message["spec"])
            with self._tasks_lock:
                task = runner.start(spec)
                self._tasks[spec.task_id] = task
            self._send({"op": "started", "id": spec.task_id, "pid": task.pid})
            task.add_done_callback(lambda: self._finished(spec.task_id, task))
            return
        with self._tasks_lock:
            found = self._tasks.get(str(message.get("id")))
        if found is None:
            return  # ended meanwhile: its result is on the way
        if op == "cancel":
            found.cancel()
        elif op == "kill":
            threading.Thread(target=found.kill, daemon=True).start()

    def _finished(self, task_id: str, task: runner.TaskProcess) -> None:
        result = task.poll()
        with self._tasks_lock:
            self._tasks.pop(task_id, None)
        if result is not None:
            self._send({"op": "result", "id": task_id, "result": result_to_wire(result)})

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._send_lock, contextlib.suppress(OSError):
            self._conn.sendall(data)

    def _end_all(self) -> None:
        with self._tasks_lock:
            tasks = list(self._tasks.values())
        killers = [threading.Thread(target=t.kill, daemon=True) for t in tasks]
        for k in killers:
            k.start()
        for k in killers:
            k.join(KILL_WAIT)


# --- the engine's side -----------------------------------------------------------------------


class _Link:
    """One host process, the engine's end of its socket, and the tasks sent to it."""

    def __init__(self, proc: subprocess.Popen[bytes], conn: socket.socket) -> None:
        self.proc = proc
        self.conn = conn
        self.tasks: dict[str, RemoteTask] = {}
        self.lock = threading.Lock()  # guards tasks and sends
        self.gone = False

    def send(self, message: dict[str, Any]) -> bool:
        data = (json.dumps(message) + "\n").encode()
        with self.lock:
            if self.gone:
                return False
            try:
                self.conn.sendall(data)
            except OSError:
                return False
        return True


class RemoteTask:
    """A task the host runs, as the dispatcher sees it (``spec.RunningTask``)."""

    def __init__(self, link: _Link | None, spec: RunSpec) -> None:
        self._link = link
        self.spec = spec
        self._pid: int | None = None
        self._result: RunResult | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def pid(self) -> int | None:
        """The worker's pid once the host said it started (None before, or if none ran)."""
        return self._pid

    def poll(self) -> RunResult | None:
        return self._result

    def wait(self, timeout: float | None = None) -> RunResult | None:
        self._done.wait(timeout)
        return self._result

    def cancel(self) -> None:
        if self._link is not None:
            self._link.send({"op": "cancel", "id": self.spec.task_id})

    def kill(self) -> None:
        if self._link is not None:
            self._link.send({"op": "kill", "id": self.spec.task_id})
        self._done.wait(KILL_WAIT + 1.0)

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if self._result is None:
                self._callbacks.append(callback)
                return
        callback()

    def _started(self, pid: int | None) -> None:
        self._pid = pid

    def _publish(self, result: RunResult) -> None:
        with self._lock:
            if self._result is not None:
                return
            self._result = result
            callbacks, self._callbacks = self._callbacks, []
        self._done.set()
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()


class TaskHost:
    """The engine's handle on its task host. ``start`` (the dispatcher's ``start`` function)
    must be called from one long-lived thread: the host dies with the thread that forked it.
    ``sandboxed``: whether the engine found a sandbox (without, the host is told not to use
    one either)."""

    def __init__(self, sandboxed: bool) -> None:
        self._sandboxed = sandboxed
        self._link: _Link | None = None

    @property
    def pid(self) -> int | None:
        """The host process's pid (None before the first start)."""
        link = self._link
        return link.proc.pid if link is not None else None

    def ensure_started(self) -> _Link:
        """The running host, started now unless it runs (OSError when it cannot start)."""
        link = self._link
        if link is not None and not link.gone and link.proc.poll() is None:
            return link
        ours, theirs = socket.socketpair()
        env = {k: os.environ[k] for k in _PASSED_ENV if os.environ.get(k)}
        if not self._sandboxed:
            env[sandbox.ENV_SWITCH] = "none"
        argv = [sys.executable, "-I", "-S", "-c", _BOOT, _PACKAGE_ROOT]
        try:
            proc = subprocess.Popen(
                [*argv, str(theirs.fileno()), str(os.getpid())],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                preexec_fn=sandbox.child_setup(0, 0),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        link = self._link = _Link(proc, ours)
        threading.Thread(
            target=self._read, args=(link,), name="ironship-task-host", daemon=True
        ).start()
        return link

    def start(self, spec: RunSpec) -> RemoteTask:
        """Have the host start ``spec``; the result arrives on the returned task."""
        try:
            link = self.ensure_started()
        except OSError as exc:
            task = RemoteTask(None, spec)
            msg = f"could not start the task host: {exc}"
            task._publish(RunResult("error", msg, None, 0, None))
            return task
        task = RemoteTask(link, spec)
        with link.lock:
            link.tasks[spec.task_id] = task
        if not link.send({"op": "start", "spec": spec_to_wire(spec)}):
            _host_gone(link)
        return task

    def close(self, timeout: float = KILL_WAIT + 2.0) -> None:
        """Ask the host to end (it kills what still runs) and wait for it."""
        link, self._link = self._link, None
        if link is None:
            return
        with contextlib.suppress(OSError):
            link.conn.shutdown(socket.SHUT_WR)
        try:
            link.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            link.proc.kill()
            link.proc.wait()
        _host_gone(link)

    def _read(self, link: _Link) -> None:
        reader: BinaryIO = link.conn.makefile("rb")
        try:
            for line in reader:
                message = json.loads(line)
                task_id = str(message.get("id"))
                op = message.get("op")
                with link.lock:
                    task = link.tasks.pop(task_id, None) if op == "result" else None
                    task = task or link.tasks.get(task_id)
                if task is None:
                    continue
                if op == "started":
                    pid = message.get("pid")
                    task._started(pid if isinstance(pid, int) else None)
                elif op == "result":
                    task._publish(result_from_wire(message["result"]))
        except (OSError, ValueError, TypeError, KeyError):
            pass
        with contextlib.suppress(Exception):
            link.proc.wait(KILL_WAIT)
        _host_gone(link)


def _host_gone(link: _Link) -> None:
    """``link``'s host ended (or its socket broke): its tasks end with an error, after every
    process they left behind is killed and their folders removed. The next start starts a new
    host."""
    with link.lock:
        link.gone = True
        tasks, link.tasks = list(link.tasks.values()), {}
        with contextlib.suppress(OSError):
            link.conn.close()
    with contextlib.suppress(Exception):
        link.proc.kill()  # it may linger half-broken; its tasks die with it
        link.proc.wait(KILL_WAIT)
    for task in tasks:
        task_dir = (task.spec.work_root / task.spec.task_id).absolute()
        sandbox.end_task_processes(task_dir)
        remove_tree(task_dir)
        task._publish(RunResult("error", HOST_GONE, None, 0, "TaskHostGone"))
