"""Benchmark of plan/apply on a generated monorepo versus zip-everything-and-MD5.

    python bench/plan_bench.py [--workers 200] [--files 100] [--size 4096] [--repeat 3]

Generates WORKERS workers of FILES small files each, deploys them once to a local engine,
then times, side by side on this machine:
  * ``ironship plan`` with nothing changed, and ``ironship apply -y`` after one file changed
    (each a fresh ``ironship`` process, as in CI);
  * the baseline a script without a planner must run every time: zip every worker's folder
    and take its MD5 (also a fresh Python process).
Prints medians and the ratio baseline / ironship (> 1 means ironship is faster).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import timed

from ironship.engine.server import EngineServer

BASELINE = r"""
import hashlib, os, sys, zipfile
root = sys.argv[1]
for name in sorted(os.listdir(root)):
    folder = os.path.join(root, name)
    if not os.path.isdir(folder) or name.startswith("."):
        continue
    dest = os.path.join(sys.argv[2], name + ".zip")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for base, _dirs, files in os.walk(folder):
            for f in files:
                full = os.path.join(base, f)
                zf.write(full, os.path.relpath(full, folder))
    with open(dest, "rb") as fh:
        hashlib.md5(fh.read()).hexdigest()
"""


def generate(top: Path, workers: int, files: int, size: int) -> Path:
    """WORKERS folders of FILES text files averaging SIZE bytes (source-like, compressible)."""
    rng = random.Random(42)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10)))
        for _ in range(2000)
    ]
    corpus = " ".join(
        rng.choice(words) + ("\n" if rng.random() < 0.1 else "") for _ in range(400_000)
    )
    lines = ["version: 1", "workers:"]
    for i in range(workers):
        name = f"w{i:03d}"
        root = top / "workers" / name
        (root / "lib").mkdir(parents=True)
        (root / "main.py").write_text(f"print('worker {name}')\n")
        for j in range(files - 1):
            sub = root / "lib" if j % 2 else root
            n = rng.randint(size // 2, size * 3 // 2)
            start = rng.randrange(0, len(corpus) - n)
            (sub / f"mod_{j:03d}.py").write_text(f"# {name} {j}\n{corpus[start : start + n]}\n")
        lines += [f"  {name}:", f"    root: workers/{name}", "    entry: main.py"]
    manifest = top / "ironship.yml"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=4096, help="average file size in bytes")
    args = parser.parse_args()
    ironship = [sys.executable, "-m", "ironship"]
    with tempfile.TemporaryDirectory(prefix="ironship-bench-") as tmp:
        top = Path(tmp)
        manifest = generate(top, args.workers, args.files, args.size)
        time.sleep(2.5)  # let the files age past the hash cache's racy window
        with EngineServer(top / ".engine", workers=2) as engine:
            env = {
                **os.environ,
                "IRON_WORKER_CLOUD": engine.url,
                "IRON_TOKEN": engine.token,
                "IRON_PROJECT_ID": engine.project_id,
                "NO_COLOR": "1",
            }
            first = timed([*ironship, "apply", "-f", str(manifest), "-y"], env)
            print(f"initial apply of {args.workers} workers x {args.files} files: {first:.2f}s")
            cold_t, plan_t, apply_t, base_t = [], [], [], []
            cache = top / ".ironship" / "cache"
            for k in range(args.repeat):
                out = top / f"zips{k}"
                out.mkdir()
                cmd = [sys.executable, "-c", BASELINE, str(top / "workers"), str(out)]
                base_t.append(timed(cmd, env))
                shutil.rmtree(out)
                shutil.rmtree(cache, ignore_errors=True)  # a fresh CI checkout has no cache
                cold_t.append(timed([*ironship, "plan", "-f", str(manifest)], env))
                plan_t.append(timed([*ironship, "plan", "-f", str(manifest)], env))
                changed = top / "workers" / f"w{(k * 37) % args.workers:03d}" / "main.py"
                changed.write_text(changed.read_text() + f"# change {k}\n")
                apply_t.append(timed([*ironship, "apply", "-f", str(manifest), "-y"], env))
    base, cold, plan, apply = (statistics.median(x) for x in (base_t, cold_t, plan_t, apply_t))
    size = f"{args.workers} workers x {args.files} files of ~{args.size} B"
    print(f"[{size}] medians of {args.repeat} runs, each a fresh process")
    print(f"baseline zip every worker + MD5:   {base:.2f}s  ({_fmt(base_t)})")
    print(f"ironship plan, no change, no cache: {cold:.2f}s  ({_fmt(cold_t)})")
    print(f"ironship plan, no change, cached:   {plan:.2f}s  ({_fmt(plan_t)})")
    print(f"ironship apply, one file changed:   {apply:.2f}s  ({_fmt(apply_t)})")
    print(f"ratio baseline/plan (no cache): {base / cold:.2f}x")
    print(f"ratio baseline/plan (cached):   {base / plan:.2f}x")
    print(f"ratio baseline/apply:           {base / apply:.2f}x")


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


if __name__ == "__main__":
    main()
