"""Benchmark of ``ironship dev``: from saving a worker file to its smoke result, against
``ironship apply --smoke -y`` of the same change.

    python bench/dev_bench.py [--repeat 10]

Copies ``examples/`` twice to a temporary folder. In the first copy ``ironship dev`` runs
(one process, its in-process engine started once) and is waited on until it watches. Then,
``--repeat`` times, alternately:
  * dev: ``workers/fib-python/fib.py`` is saved with a new comment, and the clock runs until
    dev prints the ending line of that change's status block (after its 3 smoke tests);
  * baseline: the same edit in the second copy, then ``ironship apply --smoke -y`` as a fresh
    process (its own in-process engine, as a developer without dev would run it).
Prints median, min and max of both, the ratio baseline / dev, and the median split of a dev
round as dev reports it (plan + upload, smoke tests) plus what lies outside the round (the
watcher's debounce, start of the round, printing).
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAIT = 120.0  # seconds: give up on a line that never comes
ENDING = re.compile(
    r"^  (done|failed) in (?P<total>[\d.]+)s(?: \(plan \+ upload (?P<apply>[\d.]+)s, "
    r"smoke (?P<smoke>[\d.]+)s\))?"
)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRON", "IRONSHIP_"))}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1")
    return env


class Dev:
    """``ironship dev`` in ``cwd``; its merged output read line by line on a thread."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ironship", "dev"],
            cwd=cwd,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, pattern: re.Pattern[str]) -> re.Match[str]:
        seen = []
        deadline = time.monotonic() + WAIT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                sys.exit("dev never printed " + pattern.pattern + ":\n" + "\n".join(seen))
            seen.append(line)
            if match := pattern.search(line):
                if match.group(0).strip().startswith("failed"):
                    sys.exit("a dev round failed:\n" + "\n".join(seen))
                return match

    def stop(self) -> None:
        self.proc.send_signal(2)  # Ctrl-C
        self.proc.wait(timeout=WAIT)


def save(path: Path, source: str, n: int) -> None:
    path.write_text(source + f"# edit {n}\n")


def baseline(top: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ironship", "apply", "--smoke", "-y"],
        cwd=top,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"apply --smoke -y exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return took


def show(label: str, values: list[float]) -> str:
    return (
        f"{label:<38} median {statistics.median(values):.3f} s   "
        f"min {min(values):.3f} s   max {max(values):.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ironship-dev-bench-") as tmp:
        tops = {}
        for name in ("dev", "apply"):
            tops[name] = Path(tmp) / name
            shutil.copytree(ROOT / "examples", tops[name], ignore=shutil.ignore_patterns(".*"))
        fib = {name: top / "workers/fib-python/fib.py" for name, top in tops.items()}
        source = fib["dev"].read_text()
        baseline(tops["apply"])  # deploy everything once, as dev's first round does
        dev = Dev(tops["dev"])
        dev.until(re.compile("watching .* for changes"))
        saved_to_result: list[float] = []
        rounds: list[float] = []
        applies: list[float] = []
        smokes: list[float] = []
        outside: list[float] = []
        plain: list[float] = []
        try:
            for n in range(args.repeat):
                start = time.perf_counter()
                save(fib["dev"], source, n)
                match = dev.until(ENDING)
                took = time.perf_counter() - start
                saved_to_result.append(took)
                rounds.append(float(match["total"]))
                applies.append(float(match["apply"]))
                smokes.append(float(match["smoke"]))
                outside.append(took - float(match["total"]))
                save(fib["apply"], source, n)
                plain.append(baseline(tops["apply"]))
        finally:
            dev.stop()
    print(f"{args.repeat} saves of workers/fib-python/fib.py (3 smoke tests each)")
    print(show("dev: save -> smoke result", saved_to_result))
    print(show("apply --smoke -y (fresh process)", plain))
    ratio = statistics.median(plain) / statistics.median(saved_to_result)
    print(f"ratio apply / dev (medians): {ratio:.2f}x")
    print("dev round, as dev reports it:")
    print(show("  whole round", rounds))
    print(show("  plan + upload", applies))
    print(show("  smoke tests", smokes))
    print(show("  outside the round (watch, debounce)", outside))


if __name__ == "__main__":
    main()
