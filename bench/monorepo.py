"""ironship plan and apply on a generated monorepo, each figure beside its baseline.

    python bench/monorepo.py [--workers 500] [--files 100] [--size 20480] [--repeat 5]
    python bench/monorepo.py --generate-only

Generates (once, deterministically, in ``/tmp/ironship-monorepo-W-F-S/``; reused by later
runs) WORKERS folders of FILES files averaging SIZE bytes (the default is about 1 GB), one
manifest naming them all, and deploys them once to the local engine beside the manifest
(``.ironship/engine/``, no credentials: what a user without ``iron.json`` gets). Then it
times, each a fresh process, several runs, medians, side by side in the same run
(docs: bench/RESULTS.md, "Plan at monorepo scale"):

1. ``ironship plan`` with nothing changed and a warm hash cache, against a Python process
   that only stat-walks the same files with ``os.scandir`` (interpreter start included), and
   against ``zip -X -r`` + ``md5sum`` of every worker;
2. ``ironship plan`` with no hash cache, against ``sha256sum`` over the same files in two
   processes (run right before, so the page cache is in the same state);
3. ``ironship apply -y`` after one file changed in one worker, against the no-op plan plus
   that worker's upload alone (its zip POSTed to the engine by a fresh Python process);
6. the peak RSS of plan and apply (``/usr/bin/time -v``, or ``getrusage`` without it);
7. ``ironship --version`` and ``ironship validate`` on ``examples/``, against
   ``python -c "import yaml"``.

Prints each median and each ratio. ``--keep`` keeps nothing else: the tree stays cached.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
IRONSHIP = [PY, "-m", "ironship"]

STAT_WALK = r"""
import os, sys
def walk(d):
    n = 0
    for e in os.scandir(d):
        if e.is_dir(follow_symlinks=False):
            n += walk(e.path)
        else:
            e.stat(follow_symlinks=False)
            n += 1
    return n
print(walk(sys.argv[1]))
"""

ZIP_MD5 = r"""
set -e
cd "$1"
for w in *; do
  (cd "$w" && zip -X -r -q "$2/$w.zip" .)
  md5sum "$2/$w.zip" > /dev/null
  rm "$2/$w.zip"
done
"""

SHA256_2 = r"""cd "$1" && find . -type f -print0 | xargs -0 -P2 -n 2000 sha256sum > /dev/null"""

UPLOAD_ONE = r"""
import json, sys, requests
url, project, token, name, zip_path = sys.argv[1:6]
data = {"name": name, "runtime": "python", "file_name": "main.py"}
with open(zip_path, "rb") as f:
    r = requests.post(
        f"{url}/2/projects/{project}/codes",
        headers={"Authorization": f"OAuth {token}"},
        files={"data": (None, json.dumps(data), "application/json"),
               "file": ("code.zip", f, "application/zip")},
    )
r.raise_for_status()
"""


def generate(workers: int, files: int, size: int) -> Path:
    """The monorepo's folder, generated once (deterministic: seeded) and reused."""
    top = Path(f"/tmp/ironship-monorepo-{workers}-{files}-{size}")
    done = top / ".generated"
    if done.exists():
        return top
    if top.exists():
        shutil.rmtree(top)
    rng = random.Random(1234)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10)))
        for _ in range(5000)
    ]
    corpus = " ".join(
        rng.choice(words) + ("\n" if rng.random() < 0.1 else "") for _ in range(1_000_000)
    ).encode()
    lines = ["version: 1", "workers:"]
    for i in range(workers):
        name = f"w{i:03d}"
        root = top / "workers" / name
        for sub in ("lib", "lib/util", "data"):
            (root / sub).mkdir(parents=True)
        (root / "main.py").write_text(f"print('worker {name}')\n")
        for j in range(files - 1):
            sub = ("", "lib/", "lib/util/", "data/")[j % 4]
            n = rng.randint(size // 2, size * 3 // 2)
            start = rng.randrange(0, len(corpus) - n)
            body = b"# %s %d\n" % (name.encode(), j) + corpus[start : start + n]
            (root / f"{sub}mod_{j:03d}.py").write_bytes(body)
        (root / "debug.log").write_text("excluded by the manifest\n")
        (root / "__pycache__").mkdir()
        (root / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0" * 64)
        lines += [
            f"  {name}:",
            f"    root: workers/{name}",
            "    entry: main.py",
            "    runtime: python",
            "    exclude: ['*.log']",
        ]
    (top / "ironship.yml").write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "init", "-q", str(top)], check=True)
    done.write_text("ok\n")
    return top


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS of a command in MB: /usr/bin/time -v, or getrusage when it is missing."""
    if Path("/usr/bin/time").exists():
        done = subprocess.run(
            ["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, check=False
        )
        for line in done.stderr.splitlines():
            if "Maximum resident set size" in line:
                return int(line.rsplit(":", 1)[1]) / 1024
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def median(fn: Callable[[], float], repeat: int) -> tuple[float, list[float]]:
    xs = [fn() for _ in range(repeat)]
    return statistics.median(xs), xs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size", type=int, default=20480, help="average file size in bytes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    top = generate(args.workers, args.files, args.size)
    if args.generate_only:
        print(top)
        return
    bench(top, args)


if __name__ == "__main__":
    main()
