"""Benchmark of 500 trivial Python tasks through the engine vs ``xargs -P2``.

    python bench/engine_bench.py [--tasks 500] [--workers 2]

Starts an in-process engine (127.0.0.1:0, a temporary data folder, ``--workers`` processes),
uploads a worker that prints one line, queues TASKS tasks (100 per request) and waits until
all are complete. Reports throughput (tasks / (last end_time - first created_at)) and the
queue-to-start latency (start_time - created_at of each task, from the engine's own
timestamps) p50/p99, which with 500 tasks queued at once is mostly time waiting for a worker;
and the same latency for 50 tasks queued one at a time on the idle engine. Then runs the
same script TASKS times with ``xargs -P<workers>`` (a payload file and the same arguments)
and prints the ratio of the two throughputs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime
from pathlib import Path

import requests

from ironship.engine.server import EngineServer

IDLE_TASKS = 50
WORKER = "import sys\nprint('hello from', sys.argv[sys.argv.index('-id') + 1])\n"


def _ts(rfc: str) -> float:
    return datetime.fromisoformat(rfc).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_engine(tasks: int, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, EngineServer(Path(tmp), workers=workers) as eng:
        s = requests.Session()
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
        for start in range(0, tasks, 100):
            batch = [{"code_name": "bench", "payload": "{}"}] * min(100, tasks - start)
            s.post(base + "/tasks", json={"tasks": batch}).raise_for_status()
        while True:
            stats = s.get(base + f"/codes/{code_id}/stats").json()
            if stats["complete"] + stats["error"] >= tasks:
                break
            time.sleep(0.1)
        rows: list[dict[str, str]] = []
        for page in range(0, 100):
            got = s.get(base + "/tasks", params={"per_page": 100, "page": page}).json()["tasks"]
            rows += got
            if len(got) < 100:
                break
        # Latency without a backlog: one task at a time on an idle engine.
        idle: list[float] = []
        for _ in range(IDLE_TASKS):
            body = {"tasks": [{"code_name": "bench", "payload": "{}"}]}
            task_id = s.post(base + "/tasks", json=body).json()["tasks"][0]["id"]
            while (task := s.get(base + f"/tasks/{task_id}").json())["status"] != "complete":
                time.sleep(0.01)
            idle.append((_ts(task["start_time"]) - _ts(task["created_at"])) * 1000)
    errors = sum(1 for t in rows if t["status"] != "complete")
    created = [_ts(t["created_at"]) for t in rows]
    ended = [_ts(t["end_time"]) for t in rows]
    latency = [(_ts(t["start_time"]) - _ts(t["created_at"])) * 1000 for t in rows]
    wall = max(ended) - min(created)
    return {
        "tasks": len(rows),
        "errors": errors,
        "wall_s": wall,
        "throughput": len(rows) / wall,
        "latency_p50_ms": _pct(latency, 0.50),
        "latency_p99_ms": _pct(latency, 0.99),
        "idle_p50_ms": _pct(idle, 0.50),
        "idle_p99_ms": _pct(idle, 0.99),
        "duration_p50_ms": statistics.median(int(t.get("duration", 0)) for t in rows),
    }


def run_xargs(tasks: int, workers: int) -> dict[str, float]:
    python = shutil.which("python3") or sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "worker.py").write_text(WORKER)
        (root / "payload.json").write_text("{}")
        cmd = (
            f"seq {tasks} | xargs -P{workers} -I{{}} {python} -u worker.py "
            f"-payload payload.json -id {{}} -d {tmp} > /dev/null"
        )
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", cmd], cwd=root, check=True)
        wall = time.perf_counter() - t0
    return {"wall_s": wall, "throughput": tasks / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(
        f"machine: nproc={os.cpu_count()} arch={platform.machine()} "
        f"python={platform.python_version()}"
    )
    engine = run_engine(args.tasks, args.workers)
    baseline = run_xargs(args.tasks, args.workers)
    print(f"engine (--workers {args.workers}): {args.tasks} tasks, errors={engine['errors']}")
    print(f"  wall {engine['wall_s']:.2f} s, throughput {engine['throughput']:.1f} tasks/s")
    print(
        f"  queue-to-start latency p50 {engine['latency_p50_ms']:.0f} ms, "
        f"p99 {engine['latency_p99_ms']:.0f} ms; task duration p50 "
        f"{engine['duration_p50_ms']:.0f} ms"
    )
    print(
        f"  idle engine ({IDLE_TASKS} tasks queued one at a time): queue-to-start p50 "
        f"{engine['idle_p50_ms']:.0f} ms, p99 {engine['idle_p99_ms']:.0f} ms"
    )
    print(
        f"xargs -P{args.workers}: wall {baseline['wall_s']:.2f} s, "
        f"throughput {baseline['throughput']:.1f} tasks/s"
    )
    ratio = engine["throughput"] / baseline["throughput"]
    print(f"ratio engine/xargs throughput: {ratio:.2f}")


if __name__ == "__main__":
    main()
