"""Containing a task: the sandbox it runs in, what its process is set up with, and ending
every process it left behind.

With bubblewrap (``bwrap``) on the machine, each task runs in its own PID namespace with a
fresh ``/proc`` (the engine's processes, and their ``environ``, are out of sight), the whole
file system read-only, the engine's data folder replaced by an empty tmpfs, and only the
task's own directory writable. When the task's first process ends, the namespace ends and
every descendant with it, ``setsid`` or not; ``--die-with-parent`` ends it with the engine.

Without a sandbox (``bwrap`` missing or refused, or ``IRONSHIP_SANDBOX=none``), a task still
gets an environment built from nothing (``runtimes.environment``), its first process gets
``SIGKILL`` when the engine dies (``PR_SET_PDEATHSIG``), and what it leaves behind is found by
its ``TASK_DIR`` (unique to the task and the data folder) in ``/proc/<pid>/environ`` and
killed when the task ends. A process that both
leaves the task's session and clears its own environment escapes that search: only the sandbox
contains a hostile task.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from ironship.engine import procs

ENV_SWITCH = "IRONSHIP_SANDBOX"  # "none" (or "off") runs tasks without a sandbox
PROBE_TIMEOUT = 10.0
END_ROUNDS = 50  # scans of /proc when ending a task's leftovers (a forking task needs a few)
END_NAP = 0.02

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_SETPCAP = 8


@dataclass(frozen=True)
class Sandbox:
    """How this engine contains tasks: ``kind`` "bwrap" or "none", and why (for the banner)."""

    kind: str
    program: str | None
    reason: str

    @property
    def available(self) -> bool:
        return self.kind == "bwrap"

    def describe(self) -> str:
        """One line for the banner and the engine's info."""
        if self.available:
            return f"bubblewrap ({self.program}): each task sees only its own folder and processes"
        return (
            f"none ({self.reason}); tasks run as the engine's user and can read its files "
            "(not the engine's memory or environment)"
        )


@functools.cache
def probe() -> Sandbox:
    """The sandbox this machine offers, probed once per process by running ``bwrap`` once."""
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("none", "off", "0", "no"):
        return Sandbox("none", None, f"disabled by {ENV_SWITCH}={switch}")
    program = shutil.which("bwrap")
    if program is None:
        return Sandbox("none", None, "bwrap (bubblewrap) is not installed")
    argv = [program, *_BASE, "--", "true"]
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=PROBE_TIMEOUT, env={}, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Sandbox("none", None, f"bwrap could not run: {exc}")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else f"exit status {done.returncode}"
        return Sandbox("none", None, f"bwrap is refused here: {why}")
    return Sandbox("bwrap", program, "")


# Read-only root, private /dev and /proc, own PID namespace, dies with the engine.
_BASE = (
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--unshare-pid",
    "--proc",
    "/proc",
    "--die-with-parent",
)


def wrap(
    box: Sandbox,
    argv: list[str],
    task_dir: Path,
    hidden: Iterable[Path],
    readable: Iterable[Path] = (),
) -> list[str]:
    """``argv`` run inside ``box``: ``hidden`` folders become empty, ``readable`` ones (under a
    hidden folder, e.g. the program links) stay visible read-only, ``task_dir`` is writable.

    The environment is not passed on the command line (``--setenv`` would show a code's
    values in ``ps``): bwrap is started with the task's environment and hands it on, adding
    only ``PWD`` (the task directory).
    """
    if not box.available or box.program is None:
        return argv
    wrapped = [box.program, *_BASE]
    if os.geteuid() == 0:
        # Run by root, bwrap keeps every capability unless told: the task would read any
        # process's memory and environment. Dropped, and root's later execs gain none back.
        wrapped += ["--cap-drop", "ALL"]
    for folder in hidden:
        wrapped += ["--tmpfs", str(folder)]
    for folder in readable:
        wrapped += ["--ro-bind", str(folder), str(folder)]
    wrapped += ["--bind", str(task_dir), str(task_dir)]
    for folder in hidden:
        wrapped += ["--remount-ro", str(folder)]  # the empty stand-in takes no writes either
    return [*wrapped, "--chdir", str(task_dir), "--", *argv]


def exit_status(box: Sandbox, code: int) -> int:
    """A process's status as the worker's own: bwrap reports a worker killed by signal N as
    exit 128+N, which becomes -N as ``subprocess`` reports it without a sandbox."""
    if box.available and 128 < code < 128 + 65:
        with contextlib.suppress(ValueError):
            return -signal.Signals(code - 128)
    return code


def make_undumpable() -> bool:
    """``PR_SET_DUMPABLE`` 0 for this process: another process of the same user (a task run
    without a sandbox) can no longer read its ``/proc/<pid>/environ``, ``mem`` or ``fd``, nor
    ptrace it; only root with ``CAP_SYS_PTRACE`` can (tasks of a root engine run without
    capabilities, see ``child_setup``). Reset by ``execve``, so the programs it starts are
    dumpable as usual. False where ``prctl`` is unavailable."""
    prctl = _libc_prctl()
    return prctl is not None and prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_CAP_VERSION_3 = 0x20080522


def _clear_inheritable() -> Callable[[], bool] | None:
    """A function that empties this process's inheritable capabilities (which would survive an
    emptied bounding set through ``execve``); None without ``capget``/``capset``."""
    try:
        capget, capset = _libc().capget, _libc().capset  # type: ignore[union-attr]
    except AttributeError:
        return None
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()

    def clear() -> bool:
        header.version, header.pid = _CAP_VERSION_3, 0
        if capget(ctypes.byref(header), data) != 0:
            return False
        data[0].inheritable = data[1].inheritable = 0
        return bool(capset(ctypes.byref(header), data) == 0)

    return clear


@functools.cache
def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def child_setup(
    memory_mb: int,
    file_limit: int,
    *,
    drop_capabilities: bool = False,
    death_signal: signal.Signals = signal.SIGKILL,
) -> Callable[[], None]:
    """A ``preexec_fn``: memory cap (``RLIMIT_DATA``, see ``memory``), the largest file the task
    may write (``RLIMIT_FSIZE``, 0: none), and ``death_signal`` when the engine's forking
    thread dies.

    ``drop_capabilities`` (for root without a sandbox): empty the capability bounding set and
    the ambient set, so the program runs as root without any capability: it cannot read a
    non-dumpable process (``make_undumpable``) nor bypass file permissions. (bubblewrap drops
    them itself; the task host drops them once for all its tasks, ``unprivileged_children``.)"""
    setrlimit = resource.setrlimit  # bound now: the child between fork and exec imports nothing
    data, fsize = resource.RLIMIT_DATA, resource.RLIMIT_FSIZE
    memory = memory_mb * 1024 * 1024
    prctl = _libc_prctl()
    parent = os.getpid()
    getppid, exit_now = os.getppid, os._exit
    capabilities = _every_capability() if drop_capabilities else []
    clear_inheritable = _clear_inheritable() if drop_capabilities else None
    death = int(death_signal)

    def setup() -> None:
        if memory > 0:
            setrlimit(data, (memory, memory))
        if file_limit > 0:
            setrlimit(fsize, (file_limit, file_limit))
        if capabilities:
            if prctl is None or clear_inheritable is None or not clear_inheritable():
                exit_now(126)  # never run a task with privileges it was meant not to have
            prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
            for cap in capabilities:
                if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    exit_now(126)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, death, 0, 0, 0)
            if getppid() != parent:  # the engine died before the signal was armed
                exit_now(1)

    return setup


def _every_capability() -> list[int]:
    """Every capability, in the order to drop them: SETPCAP last (dropping it ends the right
    to drop the others)."""
    return [c for c in range(_last_capability(), -1, -1) if c != _CAP_SETPCAP] + [_CAP_SETPCAP]


_children_unprivileged = False  # set by ``unprivileged_children`` once it has dropped them


def unprivileged_children() -> bool:
    """Make every program this process starts from now on run without any capability, as
    ``child_setup(drop_capabilities=True)`` does in each child, but once, in this process:
    the inheritable and ambient sets emptied and every capability dropped from the bounding
    set, so an ``execve`` as root gains none (this process keeps its own effective ones: it
    can still remove what a task left, whatever the permissions). Capabilities are per
    thread: call it before any thread starts. Never with bubblewrap (run by root it needs
    them; it drops them for the task itself). True when the programs started from now on
    have no capability (always for a non-root user), False when it could not be done (a
    task then gets ``child_setup`` as before)."""
    global _children_unprivileged
    if os.geteuid() != 0:
        return True
    prctl, clear_inheritable = _libc_prctl(), _clear_inheritable()
    if prctl is None or clear_inheritable is None or not clear_inheritable():
        return False
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in _every_capability():
        if prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            return False
    _children_unprivileged = True
    return True


def children_unprivileged() -> bool:
    """Whether a program started from this thread gets no capability without a
    ``preexec_fn``: a non-root user's always, root's after ``unprivileged_children``."""
    return os.geteuid() != 0 or _children_unprivileged


# The task host holds the tasks' memory cap as its own only when that leaves it this much
# room: its heap and modules, plus a thread (an 8 MB stack) per task it watches.
_HOST_DATA_MB = 64
_HOST_DATA_PER_SLOT_MB = 16


def hold_limits(memory_mb: int, file_cap: int, slots: int) -> None:
    """Make the caps every task gets (``child_setup``: ``RLIMIT_DATA`` of ``memory_mb``,
    ``RLIMIT_FSIZE`` of ``file_cap`` bytes; 0: none) this process's own, soft and hard, so the
    processes it starts inherit them (the task host: every task has the same caps). The memory
    cap only when it is at least twice what a host with ``slots`` tasks needs itself. A cap
    already lower, or one that cannot be set, is left as it is: ``holds_limits`` then says
    False and tasks get their caps from ``child_setup`` as before."""
    caps = [(resource.RLIMIT_FSIZE, file_cap)]
    if memory_mb >= 2 * (_HOST_DATA_MB + _HOST_DATA_PER_SLOT_MB * max(1, slots)):
        caps.append((resource.RLIMIT_DATA, memory_mb * 1024 * 1024))
    for which, cap in caps:
        if cap <= 0:
            continue
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY and hard <= cap:
            continue
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(which, (cap, cap))


def holds_limits(memory_mb: int, file_cap: int) -> bool:
    """Whether a process started from this one inherits exactly the ``RLIMIT_DATA`` and
    ``RLIMIT_FSIZE`` that ``child_setup(memory_mb, file_cap)`` would give it."""
    for which, cap in (
        (resource.RLIMIT_DATA, memory_mb * 1024 * 1024),
        (resource.RLIMIT_FSIZE, file_cap),
    ):
        want = cap if cap > 0 else resource.RLIM_INFINITY
        if resource.getrlimit(which) != (want, want):
            return False
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once: ``find_library`` runs ``ldconfig -p`` in a new process,
    which per task cost more than the rest of starting it."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


def _libc_prctl() -> Callable[..., int] | None:
    prctl: Callable[..., int] | None = getattr(_libc(), "prctl", None)
    return prctl


_PR_SET_CHILD_SUBREAPER = 36
_subreaper: int | None = None  # this process's pid once it is a child subreaper


def become_subreaper() -> bool:
    """Make this process a child subreaper (``PR_SET_CHILD_SUBREAPER``): whatever its tasks
    leave behind (``setsid``, double forks) is re-parented to it instead of to init, so their
    leftovers are found among its own descendants, not by reading every process on the
    machine. The caller must reap those orphans (``reap_orphans``). False when unsupported."""
    global _subreaper
    prctl = _libc_prctl()
    pid = os.getpid()
    if prctl is None or not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        return False
    if prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return False
    _subreaper = pid
    return True


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return found


def descendants(pid: int, skip: Collection[int] = ()) -> list[int]:
    """Every process below ``pid`` (from ``/proc/<pid>/task/*/children``), but for those in
    ``skip`` and everything below them."""
    found: list[int] = []
    todo = [pid]
    while todo:
        children = [c for c in _children(todo.pop()) if c not in skip]
        found += children
        todo += children
    return found


_running_tasks: set[int] = set()  # first processes of this process's running tasks
_running_lock = threading.Lock()


def task_running(pid: int, running: bool) -> None:
    """Note that this process started a task whose first process is ``pid`` (``running``),
    or has reaped it. In a child subreaper, the search for an ended task's leftovers skips
    what runs below the others: a leftover is re-parented to the subreaper, never to another
    task's process, so only this process's other children need looking at (and most often
    there are none: no environment is read)."""
    with _running_lock:
        if running:
            _running_tasks.add(pid)
        else:
            _running_tasks.discard(pid)


def reap_orphans(known: Collection[int]) -> int:
    """Reap the exited children of this process that are not in ``known`` (the tasks whose
    own watcher reaps them): the orphans a child subreaper inherits. Returns how many."""
    reaped = 0
    for pid in _children(os.getpid()):
        if pid in known:
            continue
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped += 1
    return reaped


def task_processes(task_dir: Path, pids: Iterable[int] | None = None) -> list[int]:
    """Those of ``pids`` (default: every process, or, in a child subreaper, every descendant
    of it) that are alive and whose environment says ``TASK_DIR=task_dir``; a zombie's
    environment reads empty, so it never matches."""
    if pids is None and _subreaper == os.getpid():
        with _running_lock:
            running = frozenset(_running_tasks)
        pids = descendants(_subreaper, skip=running)
    return procs.marked({b"TASK_DIR=" + os.fsencode(task_dir)}, pids)


def end_task_processes(task_dir: Path) -> list[int]:
    """SIGKILL every process still carrying ``task_dir``'s mark, rescanning until none is
    left (at most ``END_ROUNDS`` scans); returns the pids still found after the last one."""
    left: list[int] = []
    for _ in range(END_ROUNDS):
        left = task_processes(task_dir)
        if not left:
            return []
        for pid in left:
            _kill_checked(pid, task_dir)
        time.sleep(END_NAP)
    return left


def _kill_checked(pid: int, task_dir: Path) -> None:
    # pidfd first, then check the mark again: a pid reused since the scan is never signalled.
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if task_processes(task_dir, [pid]):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)
