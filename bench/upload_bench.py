"""Benchmark of apply's upload parallelism: 50 changed workers behind a slow proxy.

    python bench/upload_bench.py [--workers 50] [--delay 0.1] [--repeat 2] [--parallelism N...]

Generates WORKERS small workers, deploys them once straight to a local engine, then, for each
round, changes one file in every worker and times ``ironship apply -y`` through a proxy
(tests/faultproxy.py) that holds every request DELAY seconds before relaying it, as a distant
server does: once with ``--parallelism 1`` (the baseline: one at a time) and once per
``--parallelism`` value given (0 or none given: apply's default, no option). Each apply is a fresh
``ironship`` process; the baseline and the parallel applies alternate in the same run.

It also counts the requests a ``plan`` with every worker changed sends, by kind: the code
list calls must not grow with the number of workers.

Prints medians, the ratio baseline / parallel (> 1: parallel is faster), and the most
requests the proxy held at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from timing import timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from engine_proc import engine_process
from faultproxy import Faults, faulty_proxy


def generate(top: Path, workers: int) -> Path:
    lines = ["version: 1", "workers:"]
    for i in range(workers):
        name = f"w{i:03d}"
        root = top / "workers" / name
        root.mkdir(parents=True)
        (root / "main.py").write_text(f"print('worker {name}')\n")
        (root / "util.py").write_text(
            "".join(f"def f{k}(x):\n    return x + {k}\n" for k in range(200))
        )
        lines += [f"  {name}:", f"    root: workers/{name}", "    entry: main.py"]
    manifest = top / "ironship.yml"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def change_all(top: Path, workers: int, tag: str) -> None:
    for i in range(workers):
        main = top / "workers" / f"w{i:03d}" / "main.py"
        main.write_text(main.read_text() + f"# {tag}\n")


def request_kinds(faults: Faults) -> Counter[str]:
    """GET codes (the list), GET codes/ID, GET …/download, POST codes…, by kind."""
    kinds: Counter[str] = Counter()
    for method, path, _range, _status, _size in faults.seen:
        tail = path.split("?")[0].split("/2/projects/", 1)[-1].split("/")[1:]
        if tail and tail[0] == "codes":
            kind = "codes" if len(tail) == 1 else "codes/ID/" + "/".join(tail[2:])
        else:
            kind = "/".join(tail[:1]) or path
        kinds[f"{method} {kind.rstrip('/')}"] += 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds added per request")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--parallelism", type=int, nargs="*", default=[])
    args = parser.parse_args()
    ironship = [sys.executable, "-m", "ironship"]
    variants: list[int | None] = [p or None for p in args.parallelism] or [None]
    with tempfile.TemporaryDirectory(prefix="ironship-upload-bench-") as tmp:
        top = Path(tmp)
        manifest = generate(top, args.workers)
        # The engine in a process of its own: the proxy's threads here do not slow it down.
        (top / "engine").mkdir()
        with engine_process(top / "engine") as proc:
            engine = proc.api
            env = {
                **os.environ,
                "IRON_WORKER_CLOUD": engine.url,
                "IRON_TOKEN": engine.token,
                "IRON_PROJECT_ID": engine.project_id,
                "NO_COLOR": "1",
            }
            apply = [*ironship, "apply", "-f", str(manifest), "-y"]
            first = timed(apply, env)
            print(f"initial apply of {args.workers} workers, no proxy: {first:.2f}s")
            change_all(top, args.workers, "plan")
            faults = Faults(delay=args.delay)
            with faulty_proxy(engine.url, faults) as url:
                plan_s = timed(
                    [*ironship, "plan", "-f", str(manifest)], {**env, "IRON_WORKER_CLOUD": url}
                )
            kinds = request_kinds(faults)
            print(f"plan with {args.workers} workers changed, via the proxy: {plan_s:.2f}s")
            print("  requests: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
            base_t: list[float] = []
            par_t: dict[int | None, list[float]] = {v: [] for v in variants}
            peaks: dict[int | None, int] = {}
            apply_kinds: Counter[str] = Counter()
            for k in range(args.repeat):
                for variant in [1, *variants]:
                    change_all(top, args.workers, f"round {k} p{variant}")
                    faults = Faults(delay=args.delay)
                    extra = [] if variant is None else ["--parallelism", str(variant)]
                    with faulty_proxy(engine.url, faults) as url:
                        elapsed = timed([*apply, *extra], {**env, "IRON_WORKER_CLOUD": url})
                    (base_t if variant == 1 else par_t[variant]).append(elapsed)
                    peaks[variant] = max(peaks.get(variant, 0), faults.in_flight_peak)
                    apply_kinds = request_kinds(faults)
    print(
        "requests of one apply: " + ", ".join(f"{k} x{n}" for k, n in sorted(apply_kinds.items()))
    )
    base = statistics.median(base_t)
    print(
        f"[{args.workers} changed workers, +{args.delay * 1000:.0f} ms per request, "
        f"{os.cpu_count()} cores] medians of {args.repeat} rounds, each a fresh process"
    )
    peak = peaks[1]
    print(f"apply --parallelism 1 (baseline): {base:.2f}s  ({_fmt(base_t)})  peak in flight {peak}")
    for variant, times in par_t.items():
        med = statistics.median(times)
        label = "apply (default)" if variant is None else f"apply --parallelism {variant}"
        print(f"{label}: {med:.2f}s  ({_fmt(times)})  peak in flight {peaks[variant]}")
        print(f"  ratio baseline/{label}: {base / med:.2f}x")


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


if __name__ == "__main__":
    main()
