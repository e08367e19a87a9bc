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
The host runs at most ``slots`` tasks at once (the engine's ``--workers``); the dispatcher
sends up to twice that many, so the next task waits in the host with its folder prepared and
starts the moment one ends, with no round trip through the engine. The engine marks a task
running when "started" arrives; one cancelled before that never runs (its result says
cancelled). Nothing waits for an answer: the dispatcher never blocks on the host.
When the engine closes its end (or dies) the host kills every task and exits; the host gets
SIGTERM when the engine dies (``PR_SET_PDEATHSIG``) and does the same (``Host.close``). The
host holds the tasks' rlimits as its own and, without a sandbox, has dropped every capability
for the programs it starts, so it starts them without a ``preexec_fn`` (see
``runner.PreparedTask.spawn``): under bubblewrap bwrap's ``--die-with-parent`` ends a task
with the host, without it the host ends them, or the engine does when the host is killed.
It ignores SIGINT: a terminal's Ctrl-C reaches the engine's whole process group, and the
engine decides when tasks end. When the host dies (a task of the same user can kill it), its
running tasks end with an error, their leftover processes (found by their mark,
``sandbox.end_task_processes``) are killed, and the next task starts a new host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ironship.engine.run import runner, sandbox
from ironship.engine.run.runtimes import remove_tree
from ironship.engine.run.spec import (
    ResultSlot,
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
ALARM_AFTER = int(KILL_WAIT) + 5  # seconds a host told to end may take before SIGALRM ends it
REAP_EVERY = 0.5  # seconds between two looks for orphans to reap
HOST_GONE = "the task host ended while the task ran; the task's processes were killed"


# --- the host process ------------------------------------------------------------------------


def main() -> None:
    """The host's main loop (see ``_BOOT``): argv[2] is the socket's descriptor, argv[3] the
    engine's pid, argv[4] how many tasks may run at once, argv[5] and argv[6] every task's
    memory cap (MB) and largest file (bytes), 0: none."""
    fd, engine_pid, slots = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    memory_mb, file_cap = int(sys.argv[5]), int(sys.argv[6])
    # A terminal's Ctrl-C reaches the engine's whole process group, this host included: the
    # engine decides when tasks end (and this host dies with it), so SIGINT is ignored here,
    # without a traceback. It arrived ignored (``_host_setup``); a handler that does nothing,
    # unlike SIG_IGN, is reset by exec, so the tasks get SIGINT's default action back.
    signal.signal(signal.SIGINT, _ignore_signal)
    sandbox.make_undumpable()
    # Every task's caps, held by this process itself so that its tasks inherit them, and,
    # without a sandbox, no capability for any program it starts (root): its tasks then
    # start without a preexec_fn (see ``PreparedTask.spawn``). Before any thread starts:
    # capabilities are per thread.
    sandbox.hold_limits(memory_mb, file_cap, slots)
    if not sandbox.probe().available:
        sandbox.unprivileged_children()
    conn = socket.socket(fileno=fd)
    host = Host(conn, slots, subreaper=sandbox.become_subreaper())
    # The parent-death signal (SIGTERM, armed by the engine's preexec_fn) ends the tasks
    # first: they have none of their own (see ``PreparedTask.spawn``).
    signal.signal(signal.SIGTERM, lambda signum, frame: host.close())
    if os.getppid() != engine_pid:
        return  # the engine died before this process got going
    host.serve()


class Host:
    """Runs tasks as the engine asks over ``conn``, at most ``slots`` at once. The engine may
    send more: those wait here, their folders prepared, and start the moment a slot is free
    (no round trip to the engine between one task's end and the next one's start). Every
    task is started from the thread that calls ``serve`` (the parent-death signal of a
    process follows the thread that forked it)."""

    def __init__(self, conn: socket.socket, slots: int, subreaper: bool = False) -> None:
        self._conn = conn
        self._slots = max(1, slots)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        # Waiting tasks in arrival order: a RunSpec until prepared, then a PreparedTask (or
        # a finished TaskProcess when preparing failed).
        self._pending: dict[str, RunSpec | runner.PreparedTask | runner.TaskProcess] = {}
        self._tasks: dict[str, runner.TaskProcess] = {}  # started, not yet reported
        self._closed = False
        if subreaper:
            threading.Thread(target=self._reap, name="reaper", daemon=True).start()

    def close(self) -> None:
        """End as when the engine closes its end: every task killed (with what it left
        behind), then ``serve`` returns. Safe from a signal handler: it only shuts the
        socket (the reader then ends the loop); should ending hang, SIGALRM ends the process
        ``ALARM_AFTER`` seconds later."""
        signal.alarm(ALARM_AFTER)
        with contextlib.suppress(OSError):
            self._conn.shutdown(socket.SHUT_RDWR)

    def serve(self) -> None:
        threading.Thread(target=self._read, name="reader", daemon=True).start()
        try:
            while self._next():
                pass
        finally:
            self._end_all()

    def _read(self) -> None:
        reader = self._conn.makefile("rb")
        try:
            for line in reader:
                self._handle(json.loads(line))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _handle(self, message: dict[str, Any]) -> None:
        op, task_id = message.get("op"), str(message.get("id"))
        if op == "start":
            spec = spec_from_wire(message["spec"])
            with self._cond:
                self._pending[spec.task_id] = spec
                self._cond.notify_all()
            return
        with self._cond:
            waiting = self._pending.pop(task_id, None)
            running = self._tasks.get(task_id)
        if waiting is not None:  # never started: nothing ran
            if isinstance(waiting, runner.PreparedTask):
                waiting.discard()
            never_ran = (
                RunResult("cancelled", "cancelled", None, 0, None)
                if op == "cancel"
                else RunResult("error", "killed because the engine stopped", None, 0, None)
            )
            self._send_result(task_id, never_ran)
        elif running is not None and op == "cancel":
            running.cancel()
        elif running is not None and op == "kill":
            threading.Thread(target=running.kill, daemon=True).start()

    def _next(self) -> bool:
        """Start a waiting task when a slot is free, else prepare one; False once closed.

        Both under the lock: the reaper never sees the pid of a task not listed yet, nor of a
        program run while preparing (a stack's version probe), so it reaps only orphans."""
        with self._cond:
            while True:
                if self._closed:
                    return False
                if self._pending and len(self._tasks) < self._slots:
                    task_id = next(iter(self._pending))
                    task = _spawn(self._pending.pop(task_id))
                    self._tasks[task_id] = task
                    break
                todo = next((v for v in self._pending.values() if isinstance(v, RunSpec)), None)
                if todo is None:
                    self._cond.wait()
                else:
                    self._pending[todo.task_id] = runner.prepare_task(todo)
        self._send({"op": "started", "id": task_id, "pid": task.pid})
        task.add_done_callback(lambda: self._finished(task_id, task))
        return True

    def _reap(self) -> None:
        """Reap the orphans this subreaper inherits (a task's leftovers, once killed)."""
        while True:
            time.sleep(REAP_EVERY)
            with self._cond:  # a task started but not yet listed is never reaped here
                if self._closed:
                    return
                known = {t.pid for t in self._tasks.values() if t.pid is not None}
                sandbox.reap_orphans(known)

    def _finished(self, task_id: str, task: runner.TaskProcess) -> None:
        with self._cond:
            self._tasks.pop(task_id, None)
            self._cond.notify_all()
        result = task.poll()
        if result is not None:
            self._send_result(task_id, result)

    def _send_result(self, task_id: str, result: RunResult) -> None:
        self._send({"op": "result", "id": task_id, "result": result_to_wire(result)})

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._send_lock, contextlib.suppress(OSError):
            self._conn.sendall(data)

    def _end_all(self) -> None:
        with self._cond:
            self._closed = True
            waiting, self._pending = list(self._pending.values()), {}
            tasks = list(self._tasks.values())
        for item in waiting:
            if isinstance(item, runner.PreparedTask):
                item.discard()
        killers = [threading.Thread(target=t.kill, daemon=True) for t in tasks]
        for k in killers:
            k.start()
        for k in killers:
            k.join(KILL_WAIT)


def _ignore_signal(signum: int, frame: object) -> None:
    """SIGINT's handler in the host: nothing (see ``main``)."""


def _host_setup() -> Callable[[], None]:
    """The host's ``preexec_fn``: ``sandbox.child_setup`` (parent-death signal SIGTERM, which
    the host handles by ending its tasks first, ``Host.close``), and SIGINT ignored from
    before the interpreter starts, so a Ctrl-C while it imports prints nothing."""
    setup = sandbox.child_setup(0, 0, death_signal=signal.SIGTERM)
    set_handler, sigint, ignore = signal.signal, signal.SIGINT, signal.SIG_IGN

    def host_setup() -> None:
        set_handler(sigint, ignore)
        setup()

    return host_setup


def _spawn(item: RunSpec | runner.PreparedTask | runner.TaskProcess) -> runner.TaskProcess:
    if isinstance(item, RunSpec):
        item = runner.prepare_task(item)
    return item if isinstance(item, runner.TaskProcess) else item.spawn(inherit_limits=True)


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


class RemoteTask(ResultSlot):
    """A task the host runs, as the dispatcher sees it (``spec.RunningTask``)."""

    def __init__(
        self, link: _Link | None, spec: RunSpec, on_started: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self._link = link
        self.spec = spec
        self._on_started = on_started
        self._pid: int | None = None

    @property
    def pid(self) -> int | None:
        """The worker's pid once the host said it started (None before, or if none ran)."""
        return self._pid

    def cancel(self) -> None:
        if self._link is not None:
            self._link.send({"op": "cancel", "id": self.spec.task_id})

    def kill(self) -> None:
        if self._link is not None:
            self._link.send({"op": "kill", "id": self.spec.task_id})
        self._done.wait(KILL_WAIT + 1.0)

    def _started(self, pid: int | None) -> None:
        self._pid = pid
        if self._on_started is not None:
            with contextlib.suppress(Exception):
                self._on_started()


class TaskHost:
    """The engine's handle on its task host. ``start`` (the dispatcher's ``start`` function)
    must be called from one long-lived thread: the host dies with the thread that forked it.
    ``sandboxed``: whether the engine found a sandbox (without, the host is told not to use
    one either); ``memory_mb`` and ``file_cap``: every task's memory cap in MB and largest
    file in bytes (``limits.file_limit``), 0: none, which the host holds as its own limits
    when it can (``sandbox.hold_limits``)."""

    def __init__(self, sandboxed: bool, slots: int, memory_mb: int = 0, file_cap: int = 0) -> None:
        self._sandboxed = sandboxed
        self._slots = slots
        self._memory_mb = memory_mb  # every task's memory cap in MB (0: none)
        self._file_cap = file_cap  # every task's largest file in bytes (0: none)
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
                [
                    *argv,
                    str(theirs.fileno()),
                    str(os.getpid()),
                    str(self._slots),
                    str(self._memory_mb),
                    str(self._file_cap),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                preexec_fn=_host_setup(),
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

    def start(self, spec: RunSpec, on_started: Callable[[], None] | None = None) -> RemoteTask:
        """Have the host start ``spec`` (when one of its slots is free); ``on_started()`` is
        called (from the reading thread) when its process has started; the result arrives on
        the returned task."""
        try:
            link = self.ensure_started()
        except OSError as exc:
            task = RemoteTask(None, spec)
            msg = f"could not start the task host: {exc}"
            task._publish(RunResult("error", msg, None, 0, None))
            return task
        task = RemoteTask(link, spec, on_started)
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
