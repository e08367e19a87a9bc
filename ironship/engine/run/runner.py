"""Runs one task as a real process and reports how it ended.

Pure process execution, no SQLite (docs/architecture.md, Conventions 8): the dispatcher turns
rows into a ``RunSpec`` and records the ``RunResult``. ``runtimes`` builds what the worker
runtime contract (docs/ironworker-api.md §6 (Worker runtime contract)) asks for: the task
directory, the command, the arguments and the environment. This module owns the process:
stdout+stderr go to the log as written, exit 0 → complete, otherwise error with the stderr
tail in ``msg`` and ``error_class`` "Process Exit N"; past its timeout, or on cancel, the whole
process group is killed.

Containment (``sandbox``): with bubblewrap each task runs in its own PID namespace, sees
none of the engine's data folder and writes only its own directory; in every case its
environment holds nothing of the engine's, its first process dies with the engine, and every
process carrying its ``TASK_DIR`` is killed when it ends. Limits (``limits``, ``memory``): a
log past ``log_limit_mb`` or a directory past ``disk_limit_mb`` stops the task with an error.

Each started task has one watcher thread. It pumps stderr into the log (keeping a tail for
``msg``), enforces the timeout, escalates SIGTERM to SIGKILL, reaps the process, removes the
task directory and publishes the RunResult. ``poll``/``wait`` only read that result, so any
number of threads may call them, and ``cancel``/``kill`` from HTTP threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal

from ironship.engine.run import limits, sandbox
from ironship.engine.run.memory import OomWatch, ram_limit_msg
from ironship.engine.run.runtimes import (
    RuntimeUnavailable,
    SetupError,
    launch,
    prepare,
    remove_tree,
)
from ironship.engine.run.spec import ResultSlot, RunResult, RunSpec

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL on timeout or cancel
DRAIN_GRACE = 2.0  # after the worker exits, how long a process outside its group may hold stderr
TAIL_BYTES = 2048  # stderr kept for an error msg
TICK = 0.05  # watcher's longest sleep: bounds timeout and stray-process detection latency

_Reason = Literal["timeout", "cancelled", "killed", "log_limit", "disk_limit"]


def start(spec: RunSpec) -> TaskProcess:
    """Prepare the task directory and start the worker; never raises for a task's own failure.

    A missing runtime, a bad package or a process that cannot start yields a TaskProcess whose
    result is already an ``error`` RunResult with a msg saying why.
    """
    prepared = prepare_task(spec)
    return prepared if isinstance(prepared, TaskProcess) else prepared.spawn()


def prepare_task(spec: RunSpec) -> PreparedTask | TaskProcess:
    """``start``'s first half: the task directory made and the command built, no process yet
    (a finished TaskProcess when that failed). The task host prepares a task while the
    previous one still runs, and spawns it the moment a slot is free."""
    started = time.monotonic()
    # Absolute: the worker runs with cwd = task_dir, so relative file paths would point nowhere.
    task_dir = (spec.work_root / spec.task_id).absolute()
    box = sandbox.probe() if spec.sandbox else sandbox.Sandbox("none", None, "not asked for")
    try:
        argv, env = launch(spec, task_dir)
        prepare(spec, task_dir)
        argv = _contained(box, spec, task_dir, argv, env)
    except (RuntimeUnavailable, SetupError, OSError) as exc:
        remove_tree(task_dir)
        return TaskProcess.finished(_error(str(exc), started))
    return PreparedTask(spec, task_dir, argv, env, box, started)


class PreparedTask:
    """A task whose directory is ready: ``spawn`` starts it, ``discard`` removes it."""

    def __init__(
        self,
        spec: RunSpec,
        task_dir: Path,
        argv: list[str],
        env: dict[str, str],
        box: sandbox.Sandbox,
        started: float,
    ) -> None:
        self.spec = spec
        self._task_dir = task_dir
        self._argv = argv
        self._env = env
        self._box = box
        self._started = started

    def discard(self) -> None:
        remove_tree(self._task_dir)

    def spawn(self, inherit_limits: bool = False) -> TaskProcess:
        """Start the prepared task. ``inherit_limits`` (the task host, which ends every task
        it started when it ends, see ``host``): when this process already holds the task's
        memory and file-size caps (``sandbox.hold_limits``) and the task gets no capability
        without help (bubblewrap drops them; without it the host dropped them for all its
        children, ``sandbox.unprivileged_children``), it is started without a ``preexec_fn``
        (vfork: no copy of this process, no Python in the child) and inherits the caps. Its
        parent-death signal is then bwrap's ``--die-with-parent``, or without a sandbox the
        host itself: it kills its tasks when the engine dies (its own parent-death signal,
        SIGTERM, and the engine's socket closing), and when the host is killed the engine
        kills what carries the task's mark (``host._host_gone``)."""
        spec, task_dir, box, started = self.spec, self._task_dir, self._box, self._started
        file_cap = limits.file_limit(spec.disk_limit_mb, spec.log_limit_mb)
        preexec: Callable[[], None] | None = None
        if not (
            inherit_limits
            and (box.available or sandbox.children_unprivileged())
            and sandbox.holds_limits(spec.memory_mb, file_cap)
        ):
            preexec = sandbox.child_setup(
                spec.memory_mb,
                file_cap,
                # Unconfined root would read any process's memory and environment.
                drop_capabilities=not box.available and os.geteuid() == 0,
            )
        try:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(spec.log_path, "ab", buffering=0)  # noqa: SIM115 - closed by the watcher
        except OSError as exc:
            remove_tree(task_dir)
            return TaskProcess.finished(_error(f"could not open the task log: {exc}", started))
        try:
            proc = subprocess.Popen(
                self._argv,
                cwd=task_dir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own process group: timeout/cancel kill grandchildren
                preexec_fn=preexec,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an env var or argument
            log.close()
            remove_tree(task_dir)
            msg = f"could not start {spec.file_name!r}: {exc}"
            return TaskProcess.finished(_error(msg, started))
        sandbox.task_running(proc.pid, True)
        # Duration and timeout count from the spawn, not from unpacking the package.
        return TaskProcess(
            spec, task_dir, proc, log, time.monotonic(), box, remove_after=inherit_limits
        )


def _contained(
    box: sandbox.Sandbox, spec: RunSpec, task_dir: Path, argv: list[str], env: dict[str, str]
) -> list[str]:
    """``argv`` inside ``box``; the hidden data folder keeps the program links visible."""
    if not box.available:
        return argv
    hidden = spec.hidden or (spec.work_root.absolute(),)
    readable = _hidden_path_entries(env.get("PATH", ""), hidden)
    # Only the task directory is writable: temporary files go there too.
    env.setdefault("TMPDIR", str(task_dir))
    return sandbox.wrap(box, argv, task_dir, hidden, readable)


@functools.lru_cache(maxsize=64)
def _hidden_path_entries(path: str, hidden: tuple[Path, ...]) -> list[Path]:
    """The entries of a ``PATH`` value that lie in a ``hidden`` folder (the program links),
    remembered per value: pathlib per entry cost ~1 ms per task. Callers only read it."""
    return [
        Path(entry)
        for entry in path.split(os.pathsep)
        if entry and any(Path(entry).is_relative_to(h) for h in hidden)
    ]


class TaskProcess(ResultSlot):
    """One running (or finished) task. Obtain it from :func:`start`."""

    def __init__(
        self,
        spec: RunSpec | None,
        task_dir: Path | None,
        proc: subprocess.Popen[bytes] | None,
        log: IO[bytes] | None,
        started: float,
        box: sandbox.Sandbox | None = None,
        remove_after: bool = False,
    ) -> None:
        """``remove_after`` (the task host): the task's folder is renamed aside at its end and
        removed after the result is published, so that the next task starts without waiting
        for the removal; otherwise it is gone when the result is (a process that exits right
        after its task's end, ``ironship run``, leaves nothing behind)."""
        self._spec = spec
        self._task_dir = task_dir
        self._proc = proc
        self._log = log
        self._started = started
        super().__init__()
        self._lock = threading.Lock()
        self._reason: _Reason | None = None
        self._exited = False  # the worker exited (maybe not reaped yet): signals are moot
        self._reaped = False  # its pid may be reused now: never signal the group again
        self._kill_at: float | None = None
        self._tail = bytearray()
        self._oom = OomWatch()
        self._box = box or sandbox.Sandbox("none", None, "no process")
        self._remove_after = remove_after
        self._removed = threading.Event()  # the task's folder is gone
        if proc is None:
            self._removed.set()
        self._disk_at = started + limits.DISK_EVERY
        if proc is not None:
            threading.Thread(
                target=self._watch, name=f"task-{spec.task_id if spec else '?'}", daemon=True
            ).start()

    @classmethod
    def finished(cls, result: RunResult) -> TaskProcess:
        """A TaskProcess that never ran a process and already has ``result``."""
        task = cls(None, None, None, None, time.monotonic())
        task._publish(result)
        return task

    @property
    def pid(self) -> int | None:
        """The worker's pid (also its process group id), None when no process was started."""
        return self._proc.pid if self._proc is not None else None

    def cancel(self) -> None:
        """Stop the task (SIGTERM to its group, SIGKILL after a grace); its status: cancelled."""
        self._stop("cancelled", signal.SIGTERM)

    def kill(self) -> None:
        """Engine shutdown: SIGKILL the group and wait briefly for the watcher to clean up."""
        self._stop("killed", signal.SIGKILL)
        self._done.wait(DRAIN_GRACE + 3.0)
        self._removed.wait(DRAIN_GRACE)  # its folder too, before the engine goes

    def _stop(self, reason: _Reason, sig: signal.Signals) -> None:
        with self._lock:
            if self._proc is None or self._exited:
                return
            if self._reason is None:
                self._reason = reason
            self._signal_group(sig)
            if sig == signal.SIGTERM and self._kill_at is None:
                self._kill_at = time.monotonic() + KILL_GRACE

    def _signal_group(self, sig: signal.Signals) -> None:
        # Caller holds the lock. Until the leader is reaped its pid cannot be reused, so the
        # group id still names this task's processes.
        if self._proc is None or self._reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _watch(self) -> None:
        assert self._proc is not None and self._spec is not None
        try:
            ended = self._pump_until_exit(self._proc, self._spec)
            with self._lock:
                self._proc.wait()
                self._reaped = True
                reason = self._reason
            sandbox.task_running(self._proc.pid, False)
            assert self._task_dir is not None
            if not self._box.available:
                # In the sandbox's PID namespace the kernel has killed them all already.
                sandbox.end_task_processes(self._task_dir)
            code = sandbox.exit_status(self._box, self._proc.returncode)
            result = self._result_for(code, reason, ended)
        except BaseException as exc:  # a watcher must always publish, or wait() hangs
            result = _error(f"engine error while running the task: {exc!r}", self._started)
            with self._lock:
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(Exception):
                    self._proc.wait(DRAIN_GRACE)
                self._reaped = True
            sandbox.task_running(self._proc.pid, False)
            with contextlib.suppress(Exception):
                sandbox.end_task_processes(self._task_dir or Path("/nonexistent"))
        finally:
            aside = self._close()
            if aside is not None and not self._remove_after:
                remove_tree(aside)
        self._publish(result)
        if aside is not None and self._remove_after:
            remove_tree(aside)
        self._removed.set()

    def _pump_until_exit(self, proc: subprocess.Popen[bytes], spec: RunSpec) -> float:
        """Copy stderr to the log until the worker has exited and stderr is drained."""
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        deadline = self._started + spec.timeout if spec.timeout > 0 else None
        eof = False
        exited_at: float | None = None
        nap = 0.001
        # Readable once the worker has exited: its end is seen at once, not after a nap.
        exit_fd = _pidfd(proc.pid)
        try:
            while True:
                now = time.monotonic()
                if exited_at is None and _has_exited(proc.pid):
                    exited_at = now
                    with self._lock:
                        self._exited = True
                        # Nothing outlives its task: children still in its group go too.
                        self._signal_group(signal.SIGKILL)
                if exited_at is not None and (eof or now - exited_at > DRAIN_GRACE):
                    return exited_at
                if exited_at is None:
                    self._enforce_limits(now, deadline)
                    self._enforce_caps(now, spec)
                watched = [] if eof else [fd]
                if exited_at is None and exit_fd is not None:
                    watched.append(exit_fd)
                if not watched:
                    # No pidfd, stderr closed, the worker not exited yet: back off gently.
                    time.sleep(nap)
                    nap = min(nap * 2, TICK)
                    continue
                readable, _, _ = select.select(watched, [], [], TICK)
                if fd in readable:
                    eof = not self._pump(fd)
        finally:
            if exit_fd is not None:
                os.close(exit_fd)

    def _pump(self, fd: int) -> bool:
        """One read of stderr into the log (and the tail); False at its end."""
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        self._write_log(chunk)
        self._tail += chunk
        del self._tail[:-TAIL_BYTES]
        self._oom.feed(chunk)
        return True

    def _enforce_limits(self, now: float, deadline: float | None) -> None:
        with self._lock:
            if deadline is not None and self._reason is None and now >= deadline:
                self._reason = "timeout"
                self._signal_group(signal.SIGTERM)
                self._kill_at = now + KILL_GRACE
            if self._kill_at is not None and now >= self._kill_at:
                self._signal_group(signal.SIGKILL)
                self._kill_at = None

    def _enforce_caps(self, now: float, spec: RunSpec) -> None:
        """Stop the task (SIGKILL, no grace: it is flooding) when its log or its directory
        is past its cap."""
        assert self._log is not None and self._task_dir is not None
        reason: _Reason | None = None
        if spec.log_limit_mb > 0 and limits.log_size(self._log) > spec.log_limit_mb * limits.MB:
            reason = "log_limit"
        elif spec.disk_limit_mb > 0 and now >= self._disk_at:
            self._disk_at = now + limits.DISK_EVERY
            cap = spec.disk_limit_mb * limits.MB
            if limits.tree_size(self._task_dir, cap) > cap:
                reason = "disk_limit"
        if reason is None:
            return
        with self._lock:
            if self._reason in (None, "timeout", "cancelled"):
                self._reason = reason
            self._signal_group(signal.SIGKILL)

    def _write_log(self, chunk: bytes) -> None:
        assert self._log is not None
        view = memoryview(chunk)
        while view:
            written = self._log.write(view)
            view = view[written or len(view) :]

    def _result_for(self, code: int, reason: _Reason | None, ended: float) -> RunResult:
        assert self._spec is not None
        duration_ms = max(0, int((ended - self._started) * 1000))
        exit_code = code if code >= 0 else None
        if reason == "timeout":
            msg = f"task exceeded its timeout of {self._spec.timeout:g} s and was killed"
            return RunResult("timeout", msg, exit_code, duration_ms, None)
        if reason == "cancelled":
            return RunResult("cancelled", "cancelled", exit_code, duration_ms, None)
        if reason == "killed":
            msg = "killed because the engine stopped"
            return RunResult("error", msg, exit_code, duration_ms, None)
        if reason == "log_limit":
            assert self._log is not None
            limits.cut_log(self._log, self._spec.log_limit_mb)
            msg = limits.log_limit_note(self._spec.log_limit_mb)
            return RunResult("error", msg, exit_code, duration_ms, "LogLimit")
        if reason == "disk_limit":
            msg = limits.disk_limit_msg(self._spec.disk_limit_mb)
            self._write_log(f"\n[ironship: {msg}]\n".encode())
            return RunResult("error", msg, exit_code, duration_ms, "DiskLimit")
        if code == 0:
            return RunResult("complete", None, 0, duration_ms, None)
        tail = _tail_text(bytes(self._tail))
        if code < 0:
            name = _signal_name(-code)
            msg = f"killed by signal {name}" + (f"\n{tail}" if tail else "")
            error_class = f"Process Killed {name}"
        else:
            msg = tail or f"process exited with status {code}"
            error_class = f"Process Exit {code}"
        if self._spec.disk_limit_mb > 0 and limits.hit_file_limit(bytes(self._tail)):
            headline = limits.disk_limit_msg(self._spec.disk_limit_mb)
            self._write_log(f"\n[ironship: {headline}]\n".encode())
            return RunResult("error", headline, exit_code, duration_ms, "DiskLimit")
        if self._spec.memory_mb > 0 and self._oom.seen:
            # The runtime said it could not get memory: under the cap, that is the cap.
            headline = ram_limit_msg(self._spec.memory_mb)
            self._write_log(f"\n{headline}\n".encode())
            msg = f"{headline}\n{tail}" if tail else headline
        return RunResult("error", msg, exit_code, duration_ms, error_class)

    def _close(self) -> Path | None:
        """Close the task's files and take its directory away: renamed aside (one call, so
        the result is published without waiting for a removal), the name returned for the
        caller to remove after publishing; None when it is gone already."""
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
        if self._log is not None:
            self._log.close()
        if self._task_dir is None:
            return None
        aside = self._task_dir.with_name(f".{self._task_dir.name}.ended")
        try:
            os.rename(self._task_dir, aside)
        except OSError:
            remove_tree(self._task_dir)
            return None
        return aside


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` (a child not reaped yet, so the pid
    is still its own) exits; None where the kernel has no ``pidfd_open``."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    # WNOWAIT leaves the zombie in place, so the group id stays ours while strays are killed.
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None and info.si_pid == pid


def _tail_text(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(data) >= TAIL_BYTES and "\n" in text:
        text = text.split("\n", 1)[1]  # the first line was cut; start on a whole one
    return text.strip()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _error(msg: str, started: float) -> RunResult:
    duration_ms = max(0, int((time.monotonic() - started) * 1000))
    return RunResult("error", msg, None, duration_ms, None)
