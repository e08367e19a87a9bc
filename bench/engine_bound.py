"""How close to ``xargs -P2`` a launcher written in Python can come at all (issue 12 §8).

    python bench/engine_bound.py [--tasks 1000] [--rounds 3] [--engine]

``bench/engine_bench.py`` compares the engine with ``xargs -P2``. This bench adds what lies
between them: a **bare launcher**, the least a Python program must do per task to give each
task what the engine gives it (docs/ironworker-api.md §6, Worker runtime contract) and
nothing else: a fresh task folder with the package's file and the payload written into it,
a log file opened for its output, the worker started with ``subprocess.Popen`` (the engine's
argv and environment shape, its own session), its exit seen through a pidfd, its folder
removed. No database, no HTTP, no task host, no sandbox, no limits, no result sent anywhere.

Three launchers run, each a process of its own, at most two tasks at once:

- ``loop``: one thread and a ``selectors`` loop over the workers' pidfds; the next task starts
  the moment one exits.
- ``threads``: as the engine's task host does it, one watcher thread per task waiting on its
  pidfd, and a main thread that starts the next task when a watcher says its slot is free.
- ``spawn``: as ``loop``, with ``os`` calls on strings instead of ``pathlib`` and
  ``subprocess.Popen``: ``os.posix_spawn`` after ``os.chdir`` into the task's folder (which
  only a process with one thread may do).

Each round runs ``xargs -P2`` first, then the launchers (and with ``--engine`` the engine as
``engine_bench.py`` runs it, without sandbox), and prints each one's throughput against that
round's ``xargs``, its own CPU per task and its workers' CPU per task. The launchers are a
bound, not a product: whatever the engine must do beyond them (record each task durably,
answer HTTP, talk to its task host) comes on top of their figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import select
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import engine_bench  # a bench beside this one (python puts bench/ first on sys.path)

from ironship.engine.run.runtimes import PAYLOAD_NAME, find_program

SLOTS = 2
LAUNCHERS = ("loop", "threads", "spawn")


def _launch_one(
    python: str, work: Path, logs: Path, n: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """Task ``n``: its folder made, its log opened, its worker started."""
    task_dir = work / f"task-{n}"
    task_dir.mkdir()
    (task_dir / "worker.py").write_text(engine_bench.WORKER)
    payload = task_dir / PAYLOAD_NAME
    payload.write_text("{}")
    env = {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": str(task_dir),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        "PAYLOAD_FILE": str(payload),
        "TASK_ID": str(n),
        "TASK_DIR": str(task_dir),
    }
    argv = [python, "-u", "worker.py", "-payload", str(payload), "-id", str(n), "-d", str(task_dir)]
    with open(logs / f"{n}.log", "ab", buffering=0) as log:
        proc = subprocess.Popen(
            argv,
            cwd=task_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    return proc, task_dir


def _end_one(proc: subprocess.Popen[bytes], task_dir: Path) -> None:
    assert proc.stderr is not None
    proc.stderr.read()  # the worker's stderr drained (it wrote nothing)
    proc.stderr.close()
    proc.wait()
    shutil.rmtree(task_dir)


def launch_loop(python: str, tasks: int, work: Path, logs: Path) -> None:
    """One thread: a selector over the running workers' pidfds."""
    sel = selectors.DefaultSelector()
    started = 0

    def start_next() -> None:
        nonlocal started
        proc, task_dir = _launch_one(python, work, logs, started)
        started += 1
        sel.register(os.pidfd_open(proc.pid), selectors.EVENT_READ, (proc, task_dir))

    while started < min(SLOTS, tasks):
        start_next()
    ended = 0
    while ended < tasks:
        for key, _ in sel.select():
            proc, task_dir = key.data
            sel.unregister(key.fd)
            os.close(key.fd)
            if started < tasks:
                start_next()
            _end_one(proc, task_dir)
            ended += 1


def launch_spawn(python: str, tasks: int, work: Path, logs: Path) -> None:
    """One thread, and the cheapest calls Python has: ``os`` file calls on strings and
    ``os.posix_spawn`` (after ``os.chdir``: safe with one thread only), stderr a pipe read
    at the end, as ``loop`` does."""
    sel = selectors.DefaultSelector()
    null = os.open(os.devnull, os.O_RDONLY)
    base_env = {"PATH": os.environ.get("PATH") or os.defpath, "LANG": "C.UTF-8"}
    worker = engine_bench.WORKER.encode()
    started = 0

    def write(path: str, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def start_next() -> None:
        nonlocal started
        n, started = started, started + 1
        task_dir = f"{work}/task-{n}"
        payload = f"{task_dir}/{PAYLOAD_NAME}"
        os.mkdir(task_dir)
        write(f"{task_dir}/worker.py", worker)
        write(payload, b"{}")
        env = dict(base_env, HOME=task_dir, PAYLOAD_FILE=payload, TASK_ID=str(n))
        env["TASK_DIR"] = task_dir
        argv = [python, "-u", "worker.py", "-payload", payload, "-id", str(n), "-d", task_dir]
        log = os.open(f"{logs}/{n}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        err_r, err_w = os.pipe()
        os.chdir(task_dir)
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, log, 1)]
        actions.append((os.POSIX_SPAWN_DUP2, err_w, 2))
        pid = os.posix_spawn(python, argv, env, file_actions=actions, setsid=True)
        os.close(err_w)
        os.close(log)
        sel.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, err_r, task_dir))

    while started < min(SLOTS, tasks):
        start_next()
    ended = 0
    while ended < tasks:
        for key, _ in sel.select():
            pid, err_r, task_dir = key.data
            sel.unregister(key.fd)
            os.close(key.fd)
            if started < tasks:
                start_next()
            while os.read(err_r, 65536):
                pass
            os.close(err_r)
            os.waitpid(pid, 0)
            shutil.rmtree(task_dir)
            ended += 1
    os.chdir(work)
    os.close(null)


def launch_threads(python: str, tasks: int, work: Path, logs: Path) -> None:
    """A watcher thread per task; the main thread starts a task when a slot is free."""
    free = threading.Semaphore(SLOTS)
    watchers: list[threading.Thread] = []

    def watch(proc: subprocess.Popen[bytes], task_dir: Path) -> None:
        pidfd = os.pidfd_open(proc.pid)
        try:
            select.select([pidfd], [], [])  # readable once the worker exited
        finally:
            os.close(pidfd)
        free.release()
        _end_one(proc, task_dir)

    for n in range(tasks):
        free.acquire()
        proc, task_dir = _launch_one(python, work, logs, n)
        watcher = threading.Thread(target=watch, args=(proc, task_dir), daemon=True)
        watcher.start()
        watchers.append(watcher)
    for watcher in watchers:
        watcher.join()


def _launcher_main(kind: str, tasks: int) -> None:
    """The launcher process: run TASKS tasks, print its own and its workers' CPU as JSON."""
    python = find_program("python")
    assert python is not None
    with tempfile.TemporaryDirectory() as tmp:
        work, logs = Path(tmp) / "work", Path(tmp) / "logs"
        work.mkdir()
        logs.mkdir()
        t0 = time.perf_counter()
        launchers = {"loop": launch_loop, "threads": launch_threads, "spawn": launch_spawn}
        launchers[kind](python, tasks, work, logs)
        wall = time.perf_counter() - t0
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "wall_s": wall,
                "self_cpu_s": own.ru_utime + own.ru_stime,
                "workers_cpu_s": kids.ru_utime + kids.ru_stime,
            }
        )
    )


def run_launcher(kind: str, tasks: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--launcher", kind, "--tasks", str(tasks)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(done.stdout)
    return {
        "throughput": tasks / got["wall_s"],
        "self_ms": got["self_cpu_s"] * 1000 / tasks,
        "workers_ms": got["workers_cpu_s"] * 1000 / tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", action="store_true", help="the engine too (no sandbox)")
    parser.add_argument("--launcher", choices=LAUNCHERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.launcher:
        _launcher_main(args.launcher, args.tasks)
        return
    os.environ["IRONSHIP_SANDBOX"] = "none"
    print(
        f"machine: nproc={os.cpu_count()} arch={platform.machine()} "
        f"python={platform.python_version()}; worker interpreter: {find_program('python')}; "
        f"{args.tasks} tasks, {SLOTS} at once"
    )
    ratios: dict[str, list[float]] = {}
    for n in range(1, args.rounds + 1):
        base = engine_bench.run_xargs(args.tasks, SLOTS)
        print(
            f"round {n}: xargs -P{SLOTS} {base['throughput']:.1f} tasks/s, "
            f"workers' CPU {base['cpu_ms_per_task']:.1f} ms per task"
        )
        for kind in LAUNCHERS:
            got = run_launcher(kind, args.tasks)
            ratio = got["throughput"] / base["throughput"]
            ratios.setdefault(kind, []).append(ratio)
            print(
                f"  launcher {kind:7s} {got['throughput']:5.1f} tasks/s, ratio {ratio:.2f}; "
                f"CPU per task: launcher {got['self_ms']:.2f} ms, "
                f"workers {got['workers_ms']:.1f} ms"
            )
        if args.engine:
            eng = engine_bench.run_engine(args.tasks, SLOTS, True)
            ratio = eng["throughput"] / base["throughput"]
            ratios.setdefault("engine", []).append(ratio)
            print(
                f"  engine          {eng['throughput']:5.1f} tasks/s, ratio {ratio:.2f}; "
                f"CPU per task: engine {eng['engine_cpu_ms_per_task']:.2f} ms + host "
                f"{eng['host_cpu_ms_per_task']:.2f} ms, "
                f"workers {eng['worker_cpu_ms_per_task']:.1f} ms"
            )
    for kind, values in ratios.items():
        shown = ", ".join(f"{r:.2f}" for r in values)
        print(f"{kind}/xargs: {shown}; median {statistics.median(values):.2f}")


if __name__ == "__main__":
    main()
