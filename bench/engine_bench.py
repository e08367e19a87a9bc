"""Benchmark of 1,000 trivial Python tasks through the engine vs ``xargs -P2`` (issue 12 §8).

    python bench/engine_bench.py [--tasks 1000] [--workers 2] [--rounds 2]
                                 [--sandbox auto|none] [--in-process]

Each round runs the baseline and the engine side by side: first ``xargs -P<workers>`` running
the worker script TASKS times directly (the interpreter the engine itself runs python workers
with, a payload file, the same arguments), then the engine: an in-process engine (127.0.0.1:0,
a temporary data folder, ``--workers`` processes) gets the worker uploaded and TASKS tasks
queued (100 per request), and the bench waits until all are complete. Throughput is
tasks / (last ``end_time`` - first ``created_at``), from the engine's own timestamps.

While the tasks run, one client (a process of its own) reads a task's status
(``GET /2/projects/{p}/tasks/{id}``) and then its log (``GET …/tasks/{id}/log``) every 100 ms,
cycling through tasks queued, running and finished; their latencies are reported as p50/p99.
Whether all are done is looked at every 0.5 s.

The engine's CPU time (this process, without the reading client) and the task host's are
printed per task, so the engine's own cost per task shows apart from the workers'.
``--sandbox none`` sets IRONSHIP_SANDBOX=none (tasks without bubblewrap). With bubblewrap, a
second baseline runs ``xargs`` with each worker inside the same bwrap command line the engine
builds, and both ratios are printed: the engine
against bare ``xargs``, and against ``xargs`` in bwrap (the engine's own overhead over the
sandbox's price). ``--in-process`` starts tasks from the engine process itself instead of the
task host (to measure what the host costs).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import subprocess
import tempfile
import time
import zipfile
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import requests

from ironship.engine.run import sandbox
from ironship.engine.run.runtimes import find_program
from ironship.engine.server import EngineServer

WORKER = "import sys\nprint('hello from', sys.argv[sys.argv.index('-id') + 1])\n"
READ_EVERY = 0.1  # seconds between two status+log reads while the tasks run (10 pairs/s)
DONE_EVERY = 0.5  # seconds between two looks at whether every task is done
TICK = os.sysconf("SC_CLK_TCK")


def _ts(rfc: str) -> float:
    return datetime.fromisoformat(rfc).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of ``pid`` (its own threads), or with ``children`` cutime + cstime (the
    children it has reaped: the task host's are the workers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / TICK


def read_while_running(
    base: str, token: str, ids: list[str], stop: EventType, out: Connection
) -> None:
    """Read one task's status, then its log, every READ_EVERY s until ``stop``; send the
    latencies (ms) and the failures through ``out``. Run in a process of its own, so that
    the client's CPU is not counted as the engine's (nor holds the engine's GIL)."""
    session = requests.Session()
    session.trust_env = False  # no proxy lookups: the client's cost is not the engine's
    session.headers["Authorization"] = f"OAuth {token}"
    status_ms: list[float] = []
    log_ms: list[float] = []
    failures = 0
    n = 0
    while not stop.wait(READ_EVERY):
        task_id = ids[(n * 37) % len(ids)]
        n += 1
        t0 = time.perf_counter()
        r = session.get(f"{base}/tasks/{task_id}")
        t1 = time.perf_counter()
        status_ms.append((t1 - t0) * 1000)
        if r.status_code != 200:
            failures += 1
            continue
        # A queued task's log answers 404 ("not available yet"), quickly: count it too.
        session.get(f"{base}/tasks/{task_id}/log")
        log_ms.append((time.perf_counter() - t1) * 1000)
    out.send((status_ms, log_ms, failures))


def run_engine(tasks: int, workers: int, task_host: bool) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        EngineServer(Path(tmp), workers=workers, task_host=task_host) as eng,
    ):
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"OAuth {eng.token}"
        base = f"{eng.url}/2/projects/{eng.project_id}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("worker.py", WORKER)
        data = {"name": "bench", "runtime": "python", "file_name": "worker.py"}
        r = s.post(
            base + "/codes",
            files={"data": (None, json.dumps(data)), "file": ("w.zip", buf.getvalue())},
        )
        r.raise_for_status()
        code_id = r.json()["id"]
        cpu0 = time.process_time()
        host_pid = eng.task_host_pid
        host0 = _cpu_seconds(host_pid) if host_pid else 0.0
        workers0 = _cpu_seconds(host_pid, children=True) if host_pid else 0.0
        ids: list[str] = []
        for start in range(0, tasks, 100):
            batch = [{"code_name": "bench", "payload": "{}"}] * min(100, tasks - start)
            got = s.post(base + "/tasks", json={"tasks": batch})
            got.raise_for_status()
            ids += [t["id"] for t in got.json()["tasks"]]
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        results, out = spawn.Pipe(duplex=False)
        reader = spawn.Process(
            target=read_while_running, args=(base, eng.token, ids, stop, out), daemon=True
        )
        reader.start()
        while True:
            stats = s.get(base + f"/codes/{code_id}/stats").json()
            if stats["complete"] + stats["error"] >= tasks:
                break
            time.sleep(DONE_EVERY)
        stop.set()
        status_ms, log_ms, failures = results.recv()
        reader.join()
        engine_cpu = time.process_time() - cpu0
        host_cpu = (_cpu_seconds(host_pid) - host0) if host_pid else 0.0
        workers_cpu = (_cpu_seconds(host_pid, children=True) - workers0) if host_pid else 0.0
        rows: list[dict[str, str]] = []
        for page in range(0, 1000):
            got = s.get(base + "/tasks", params={"per_page": 100, "page": page}).json()["tasks"]
            rows += got
            if len(got) < 100:
                break
    errors = sum(1 for t in rows if t["status"] != "complete")
    created = [_ts(t["created_at"]) for t in rows]
    ended = [_ts(t["end_time"]) for t in rows]
    wall = max(ended) - min(created)
    return {
        "tasks": len(rows),
        "errors": errors,
        "wall_s": wall,
        "throughput": len(rows) / wall,
        "duration_p50_ms": statistics.median(int(t.get("duration", 0)) for t in rows),
        "status_p50_ms": _pct(status_ms, 0.50),
        "status_p99_ms": _pct(status_ms, 0.99),
        "log_p50_ms": _pct(log_ms, 0.50),
        "log_p99_ms": _pct(log_ms, 0.99),
        "reads": len(status_ms),
        "read_failures": failures,
        # This process is the engine plus this bench's queueing and its look every
        # DONE_EVERY s at whether all are done (the reads run in a process of their own).
        "engine_cpu_ms_per_task": engine_cpu * 1000 / tasks,
        "host_cpu_ms_per_task": host_cpu * 1000 / tasks,
        "worker_cpu_ms_per_task": workers_cpu * 1000 / tasks,
    }


def run_xargs(tasks: int, workers: int, sandboxed: bool = False) -> dict[str, float]:
    """``xargs -P<workers>`` running the worker TASKS times; with ``sandboxed``, each inside
    the bubblewrap command line the engine builds for a task (``sandbox.wrap``: a hidden data
    folder, the task folder writable), so the sandbox's own price shows apart from the
    engine's."""
    python = find_program("python")
    assert python is not None
    with tempfile.TemporaryDirectory() as tmp:
        # As in the engine: the task folder lies inside the hidden data folder.
        data = Path(tmp) / "data"
        root = data / "work" / "task"
        root.mkdir(parents=True)
        (root / "worker.py").write_text(WORKER)
        (root / "payload.json").write_text("{}")
        argv = [python, "-u", "worker.py", "-payload", "payload.json", "-id", "ID", "-d", str(root)]
        if sandboxed:
            argv = sandbox.wrap(sandbox.probe(), argv, root, (data,))
        line = shlex.join(argv).replace(" ID ", " {} ")
        cmd = f"seq {tasks} | xargs -P{workers} -I{{}} {line} > /dev/null"
        t0, cpu0 = time.perf_counter(), os.times()
        subprocess.run(["sh", "-c", cmd], cwd=root, check=True)
        wall, cpu1 = time.perf_counter() - t0, os.times()
    cpu = cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system
    return {"wall_s": wall, "throughput": tasks / wall, "cpu_ms_per_task": cpu * 1000 / tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sandbox", choices=("auto", "none"), default="auto")
    parser.add_argument("--in-process", action="store_true", help="no task host")
    args = parser.parse_args()
    if args.sandbox == "none":
        os.environ["IRONSHIP_SANDBOX"] = "none"
    print(
        f"machine: nproc={os.cpu_count()} arch={platform.machine()} "
        f"python={platform.python_version()}; worker interpreter: {find_program('python')}"
    )
    box = sandbox.probe()
    mode = "in-process" if args.in_process else "task host"
    print(f"engine: sandbox {box.kind}, tasks started by the {mode}, --workers {args.workers}")
    ratios, boxed_ratios = [], []
    for n in range(1, args.rounds + 1):
        baseline = run_xargs(args.tasks, args.workers)
        boxed = run_xargs(args.tasks, args.workers, sandboxed=True) if box.available else None
        engine = run_engine(args.tasks, args.workers, not args.in_process)
        ratio = engine["throughput"] / baseline["throughput"]
        ratios.append(ratio)
        print(f"round {n}:")
        print(
            f"  xargs -P{args.workers}: wall {baseline['wall_s']:.2f} s, "
            f"{baseline['throughput']:.1f} tasks/s, CPU per task "
            f"{baseline['cpu_ms_per_task']:.1f} ms"
        )
        if boxed is not None:
            boxed_ratios.append(engine["throughput"] / boxed["throughput"])
            print(
                f"  xargs -P{args.workers} in bwrap: wall {boxed['wall_s']:.2f} s, "
                f"{boxed['throughput']:.1f} tasks/s; the sandbox's own price: "
                f"bwrap/bare xargs {boxed['throughput'] / baseline['throughput']:.2f}"
            )
        print(
            f"  engine: {engine['tasks']:.0f} tasks, errors {engine['errors']:.0f}, wall "
            f"{engine['wall_s']:.2f} s, {engine['throughput']:.1f} tasks/s, task duration "
            f"p50 {engine['duration_p50_ms']:.0f} ms"
        )
        print(
            f"  reads while running ({engine['reads']:.0f}, failed "
            f"{engine['read_failures']:.0f}): status p50 {engine['status_p50_ms']:.1f} ms "
            f"p99 {engine['status_p99_ms']:.1f} ms; log p50 {engine['log_p50_ms']:.1f} ms "
            f"p99 {engine['log_p99_ms']:.1f} ms"
        )
        print(
            f"  CPU per task: engine process {engine['engine_cpu_ms_per_task']:.2f} ms, "
            f"task host {engine['host_cpu_ms_per_task']:.2f} ms, the worker itself "
            f"{engine['worker_cpu_ms_per_task']:.1f} ms"
        )
        print(f"  ratio engine/xargs throughput: {ratio:.2f}")
        if boxed_ratios:
            print(f"  ratio engine/xargs-in-bwrap throughput: {boxed_ratios[-1]:.2f}")
    shown = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"ratios engine/xargs: {shown}; median {statistics.median(ratios):.2f}")
    if boxed_ratios:
        shown = ", ".join(f"{r:.2f}" for r in boxed_ratios)
        median = statistics.median(boxed_ratios)
        print(f"ratios engine/xargs-in-bwrap: {shown}; median {median:.2f}")


if __name__ == "__main__":
    main()
