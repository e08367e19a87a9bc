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

Prints each median and each ratio. The generated tree stays in /tmp for the next run.
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
from pathlib import Path

from timing import timed

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

# One worker's upload to a local engine, alone: start the engine in-process on a data folder
# of its own, zip the worker's folder, POST it, stop (what apply cannot avoid for a change).
UPLOAD_ONE = r"""
import io, json, os, sys, zipfile
from pathlib import Path
import requests
from ironship.engine.server import EngineServer
data_dir, folder, name = sys.argv[1:4]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            full = os.path.join(base, f)
            zf.write(full, os.path.relpath(full, folder))
with EngineServer(Path(data_dir)) as engine:
    data = {"name": name + "-upload-bench", "runtime": "python", "file_name": "main.py"}
    r = requests.post(
        f"{engine.url}/2/projects/{engine.project_id}/codes",
        headers={"Authorization": f"OAuth {engine.token}"},
        files={"data": (None, json.dumps(data), "application/json"),
               "file": ("code.zip", buf.getvalue(), "application/zip")},
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


def peak_rss_mb(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Peak RSS of a command in MB: /usr/bin/time -v, or getrusage when it is missing."""
    if Path("/usr/bin/time").exists():
        done = subprocess.run(
            ["/usr/bin/time", "-v", *cmd],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in done.stderr.splitlines():
            if "Maximum resident set size" in line:
                return int(line.rsplit(":", 1)[1]) / 1024
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=False)
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def bench(top: Path, args: argparse.Namespace) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRON_")}
    env.update(PYTHONPATH=str(REPO))  # output is piped: no colour either way
    plan = [*IRONSHIP, "plan", "--target", "local"]
    apply = [*IRONSHIP, "apply", "-y", "--target", "local"]
    workers = top / "workers"
    cache = top / ".ironship" / "cache"
    n = args.repeat
    first = subprocess.run(
        [*plan, "--detailed-exitcode"], env=env, cwd=top, capture_output=True, check=False
    )
    if first.returncode == 2:
        print(f"initial apply of {args.workers} workers: {timed(apply, env, top):.1f}s")
    timed(plan, env, top)  # warm the hash cache

    def walk() -> float:
        return timed([PY, "-c", STAT_WALK, str(workers)], env)

    def noop() -> float:
        return timed(plan, env, top)

    pairs = [(walk(), noop()) for _ in range(n)]
    walk_t, noop_t = [p[0] for p in pairs], [p[1] for p in pairs]
    zips = top / ".zips"
    zips.mkdir(exist_ok=True)
    zip_t = [
        timed(["sh", "-c", ZIP_MD5, "sh", str(workers), str(zips)], env)
        for _ in range(args.zip_repeat)
    ]

    sha_t, cold_t = [], []
    for _ in range(n):
        sha_t.append(timed(["sh", "-c", SHA256_2, "sh", str(workers)], env))
        shutil.rmtree(cache, ignore_errors=True)
        cold_t.append(timed(plan, env, top))

    apply_t, upload_t = [], []
    for k in range(n):
        name = f"w{(k * 97 + 13) % args.workers:03d}"
        changed = workers / name / "lib" / "mod_001.py"
        changed.write_bytes(changed.read_bytes() + b"# bench change %d\n" % k)
        apply_t.append(timed(apply, env, top))
        data = top / ".upload-bench-engine"  # its own engine: no orphans in the project's
        upload_t.append(timed([PY, "-c", UPLOAD_ONE, str(data), str(workers / name), name], env))

    shutil.rmtree(cache, ignore_errors=True)
    rss_cold_plan = peak_rss_mb(plan, env, top)
    rss_plan = peak_rss_mb(plan, env, top)
    changed = workers / "w000" / "main.py"
    changed.write_bytes(changed.read_bytes() + b"# rss change\n")
    rss_apply = peak_rss_mb(apply, env, top)

    example = REPO / "examples"
    yaml_t, version_t, validate_t = [], [], []
    for _ in range(n):
        yaml_t.append(timed([PY, "-c", "import yaml"], env))
        version_t.append(timed([*IRONSHIP, "--version"], env))
        validate_t.append(timed([*IRONSHIP, "validate"], env, example))

    med = statistics.median
    size = sum(f.stat().st_size for f in workers.rglob("*") if f.is_file())
    print(f"monorepo: {args.workers} workers x {args.files} files, {size / 1e9:.2f} GB; {top}")
    print(f"medians of {n} runs (zip: {args.zip_repeat}), each a fresh process")
    rows = [
        ("stat-walk (os.scandir, python)", walk_t),
        ("ironship plan, no change, warm", noop_t),
        ("zip -X -r + md5sum, every worker", zip_t),
        ("sha256sum, 2 processes", sha_t),
        ("ironship plan, no cache", cold_t),
        ("one worker's upload alone", upload_t),
        ("ironship apply -y, 1 file changed", apply_t),
        ('python -c "import yaml"', yaml_t),
        ("ironship --version", version_t),
        ("ironship validate (examples/)", validate_t),
    ]
    for label, xs in rows:
        print(f"  {label:36} {med(xs):7.3f}s  ({', '.join(f'{x:.3f}' for x in xs)})")
    print("ratios (target):")
    print(f"  1. no-op plan / stat-walk          {med(noop_t) / med(walk_t):6.2f}x  (<= 2)")
    print(f"  1. zip+md5 / no-op plan            {med(zip_t) / med(noop_t):6.2f}x  (>= 20)")
    print(f"  2. cold plan / sha256sum -P2       {med(cold_t) / med(sha_t):6.2f}x  (<= 1.5)")
    base3 = med(noop_t) + med(upload_t)
    print(f"  3. apply / (no-op plan + upload)   {med(apply_t) / base3:6.2f}x  (<= 2)")
    print(
        f"  6. peak RSS: plan (no cache) {rss_cold_plan:.0f} MB, plan (warm) {rss_plan:.0f} MB, "
        f"apply {rss_apply:.0f} MB  (< 150)"
    )
    print(f"  7. --version / import yaml         {med(version_t) / med(yaml_t):6.2f}x  (<= 3)")
    print(f"  7. validate / import yaml          {med(validate_t) / med(yaml_t):6.2f}x  (<= 3)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size", type=int, default=20480, help="average file size in bytes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zip-repeat", type=int, default=3)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    top = generate(args.workers, args.files, args.size)
    if args.generate_only:
        print(top)
        return
    bench(top, args)


if __name__ == "__main__":
    main()
