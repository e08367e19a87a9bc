"""Benchmark of ``ironship run`` (a local task, no upload, no server) against the engine path.

    python bench/run_bench.py [--repeat 10]

Copies ``examples/`` to a temporary folder, starts an in-process engine (a server already
running, as ``ironship server`` would be) and applies the examples once. Then, alternately,
each a fresh ``ironship`` process, ``--repeat`` times:
  * check one task: ``run fib`` versus ``queue fib --wait`` (the worker already deployed);
  * after an edit of ``fib.py``: ``run fib`` versus ``apply -y`` then ``queue fib --wait``;
  * smoke tests: ``run fib --smoke`` versus ``test fib`` (deployed).
Prints the medians and the ratios (engine path / run).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timing import engine_env

from ironship.engine.server import EngineServer

ROOT = Path(__file__).resolve().parents[1]


def timed(commands: list[list[str]], env: dict[str, str], cwd: Path) -> float:
    """Seconds to run ``commands`` one after the other (each must succeed)."""
    start = time.perf_counter()
    for cmd in commands:
        done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    ironship = [sys.executable, "-m", "ironship"]
    payload = ["--payload", '{"max": 1000}']
    with tempfile.TemporaryDirectory(prefix="ironship-run-bench-") as tmp:
        top = Path(tmp) / "examples"
        shutil.copytree(ROOT / "examples", top, ignore=shutil.ignore_patterns(".ironship"))
        fib = top / "workers" / "fib-python" / "fib.py"
        source = fib.read_text()
        with EngineServer(Path(tmp) / "engine") as engine:
            env = engine_env(engine.url, engine.token, engine.project_id)
            timed([[*ironship, "apply", "-y"]], env, top)
            edits = iter(range(1_000_000))

            def edited(commands: list[list[str]]) -> Callable[[], float]:
                def go() -> float:
                    fib.write_text(source + f"# edit {next(edits)}\n")
                    return timed(commands, env, top)

                return go

            pairs: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {
                "one task": (
                    lambda: timed([[*ironship, "run", "fib", *payload]], env, top),
                    lambda: timed([[*ironship, "queue", "fib", *payload, "--wait"]], env, top),
                ),
                "after an edit": (
                    edited([[*ironship, "run", "fib", *payload]]),
                    edited(
                        [
                            [*ironship, "apply", "-y"],
                            [*ironship, "queue", "fib", *payload, "--wait"],
                        ]
                    ),
                ),
                "smoke tests": (
                    lambda: timed([[*ironship, "run", "fib", "--smoke"]], env, top),
                    lambda: timed([[*ironship, "test", "fib"]], env, top),
                ),
            }
            results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in pairs}
            for _ in range(args.repeat):
                for name, (local, engine_path) in pairs.items():
                    results[name][0].append(local())
                    results[name][1].append(engine_path())
    print(f"median of {args.repeat} run(s); engine path / run")
    for name, (local_times, engine_times) in results.items():
        a, b = statistics.median(local_times), statistics.median(engine_times)
        print(f"  {name:14} run {a:6.3f} s   engine path {b:6.3f} s   ratio {b / a:5.2f}x")


if __name__ == "__main__":
    main()
