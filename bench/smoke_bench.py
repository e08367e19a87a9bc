"""Benchmark of 20 smoke tests of about one second each, concurrent versus one at a time.

    python bench/smoke_bench.py [--tests 20] [--seconds 1] [--parallelism 4] [--repeat 1]

Starts a local engine with as many task slots as the parallelism (EngineServer(workers=4)),
deploys one worker that sleeps SECONDS and then prints a separator block, and declares TESTS
smoke tests on it. Then times, side by side, what users run (each a fresh ``ironship``
process): ``ironship test --parallelism 4`` (the default) and ``ironship test --parallelism 1``.
Prints the wall times (medians over --repeat runs) and the ratio serial / parallel.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from timing import engine_env, timed

from ironship.engine.server import EngineServer

WORKER = """\
import json, os, time

payload = json.load(open(os.environ["PAYLOAD_FILE"]))
time.sleep(payload["seconds"])
print("MAGICALSTDOUTSEPARATOR")
print(json.dumps({"test": payload["test"], "slept": payload["seconds"]}))
print("MAGICALSTDOUTSEPARATOR")
"""


def project(top: Path, tests: int, seconds: float) -> Path:
    """A manifest with one sleeping worker and TESTS smoke tests on it."""
    root = top / "sleeper"
    root.mkdir(parents=True)
    (root / "sleeper.py").write_text(WORKER, encoding="utf-8")
    lines = [
        "version: 1",
        "workers:",
        "  sleeper:",
        "    root: sleeper",
        "    entry: sleeper.py",
        "    runtime: python",
        f"    payload: {{seconds: {seconds}}}",
        "    smoke:",
    ]
    for i in range(1, tests + 1):
        lines += [
            f"      - name: t{i:02d}",
            f"        payload: {{test: {i}}}",
            "        timeout: 120",
            f"        output: {{equals: {{test: {i}, slept: {seconds}}}}}",
        ]
    manifest = top / "ironship.yml"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--parallelism", type=int, default=4, help="ironship's default is 4")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    ironship = [sys.executable, "-m", "ironship"]
    with tempfile.TemporaryDirectory(prefix="ironship-smoke-bench-") as tmp:
        top = Path(tmp)
        manifest = project(top, args.tests, args.seconds)
        with EngineServer(top / "engine", workers=args.parallelism) as engine:
            env = engine_env(engine.url, engine.token, engine.project_id)
            timed([*ironship, "apply", "-f", str(manifest), "-y"], env)
            test = [*ironship, "test", "-f", str(manifest)]
            runs: dict[int, list[float]] = {args.parallelism: [], 1: []}
            for _ in range(args.repeat):
                for parallelism, times in runs.items():
                    times.append(timed([*test, "--parallelism", str(parallelism)], env))
    parallel = statistics.median(runs[args.parallelism])
    serial = statistics.median(runs[1])
    print(f"{args.tests} smoke tests of {args.seconds:g} s each, median of {args.repeat} run(s)")
    print(f"  ironship test --parallelism {args.parallelism}: {parallel:6.2f} s")
    print(f"  ironship test --parallelism 1: {serial:6.2f} s")
    print(f"  ratio (parallelism 1 / parallelism {args.parallelism}): {serial / parallel:.2f}x")


if __name__ == "__main__":
    main()
