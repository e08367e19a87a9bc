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
   ``python -c "import yaml"`` (validate twice: with its schema verdict remembered, and with
   ``.ironship/cache/valid.bin`` removed before each run, as after an edit);
1d. the no-op plan again with ``ironship daemon`` serving the monorepo, against the same
   stat-walk (``--parts daemon``).

``ironship`` is the console script beside this Python (what a user runs), or ``python -m
ironship``; the package's bytecode is compiled first, as an install does. ``--parts`` picks
figures (default: all). Prints each median and each ratio. The generated tree stays in /tmp
for the next run.
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
from collections.abc import Callable
from pathlib import Path

from timing import timed

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
_SCRIPT = Path(PY).with_name("ironship")
IRONSHIP = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "ironship"]
Times = dict[str, list[float]]
PARTS = ("noop", "zip", "cold", "apply", "rss", "startup", "daemon")

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
    parts = set(args.parts.split(","))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRON")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=str(REPO))  # output is piped: no colour either way
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "ironship")], check=True)
    subprocess.run([*IRONSHIP, "daemon", "stop"], env=env, cwd=top, capture_output=True)
    plan = [*IRONSHIP, "plan", "--target", "local"]
    apply = [*IRONSHIP, "apply", "-y", "--target", "local"]
    workers = top / "workers"
    n = args.repeat
    first = subprocess.run(
        [*plan, "--detailed-exitcode"], env=env, cwd=top, capture_output=True, check=False
    )
    if first.returncode == 2:
        print(f"initial apply of {args.workers} workers: {timed(apply, env, top):.1f}s")
    timed(plan, env, top)  # warm the hash cache
    t: Times = {}

    def walk() -> float:
        return timed([PY, "-c", STAT_WALK, str(workers)], env)

    def noop() -> float:
        return timed(plan, env, top)

    if "noop" in parts or "zip" in parts:
        pairs = [(walk(), noop()) for _ in range(n)]
        t["walk"], t["noop"] = [p[0] for p in pairs], [p[1] for p in pairs]
    if "zip" in parts:
        zips = top / ".zips"
        zips.mkdir(exist_ok=True)
        t["zip"] = [
            timed(["sh", "-c", ZIP_MD5, "sh", str(workers), str(zips)], env)
            for _ in range(args.zip_repeat)
        ]
    if "cold" in parts:
        no_cache(top, env, n, t)
    if "apply" in parts:
        one_change(top, args, env, t)
    rss = peak_rss(top, env) if "rss" in parts else ""
    if "startup" in parts:
        startup(env, n, t)
    if "daemon" in parts:
        timed(apply, env, top)  # whatever an earlier part changed
        with_daemon(top, env, lambda: [(walk(), noop()) for _ in range(n)], t)
    report(top, args, t, rss)


def with_daemon(
    top: Path, env: dict[str, str], measure: Callable[[], list[tuple[float, float]]], t: Times
) -> None:
    """The stat-walk and the no-op plan again, with ``ironship daemon`` serving ``top``."""
    plan = [*IRONSHIP, "plan", "--target", "local"]
    timed([*IRONSHIP, "daemon", "start"], env, top)
    try:
        timed(plan, env, top)  # the daemon learns every worker's files
        timed(plan, env, top)
        pairs = measure()
        t["walk_d"], t["daemon"] = [p[0] for p in pairs], [p[1] for p in pairs]
    finally:
        subprocess.run([*IRONSHIP, "daemon", "stop"], env=env, cwd=top, capture_output=True)


def no_cache(top: Path, env: dict[str, str], n: int, t: Times) -> None:
    """A plan with no hash cache, each right after sha256sum over the same files."""
    t["sha"], t["cold"] = [], []
    for _ in range(n):
        t["sha"].append(timed(["sh", "-c", SHA256_2, "sh", str(top / "workers")], env))
        shutil.rmtree(top / ".ironship" / "cache", ignore_errors=True)
        t["cold"].append(timed([*IRONSHIP, "plan", "--target", "local"], env, top))


def one_change(top: Path, args: argparse.Namespace, env: dict[str, str], t: Times) -> None:
    """apply after one file changed, and that worker's upload alone."""
    workers = top / "workers"
    t["apply"], t["upload"] = [], []
    for k in range(args.repeat):
        name = f"w{(k * 97 + 13) % args.workers:03d}"
        changed = workers / name / "lib" / "mod_001.py"
        changed.write_bytes(changed.read_bytes() + b"# bench change %d\n" % k)
        t["apply"].append(timed([*IRONSHIP, "apply", "-y", "--target", "local"], env, top))
        data = top / ".upload-bench-engine"  # its own engine: no orphans in the project's
        one = [PY, "-c", UPLOAD_ONE, str(data), str(workers / name), name]
        t["upload"].append(timed(one, env))


def peak_rss(top: Path, env: dict[str, str]) -> str:
    plan = [*IRONSHIP, "plan", "--target", "local"]
    shutil.rmtree(top / ".ironship" / "cache", ignore_errors=True)
    rss_cold_plan = peak_rss_mb(plan, env, top)
    rss_plan = peak_rss_mb(plan, env, top)
    changed = top / "workers" / "w000" / "main.py"
    changed.write_bytes(changed.read_bytes() + b"# rss change\n")
    rss_apply = peak_rss_mb([*IRONSHIP, "apply", "-y", "--target", "local"], env, top)
    return (
        f"plan (no cache) {rss_cold_plan:.0f} MB, plan (warm) {rss_plan:.0f} MB, "
        f"apply {rss_apply:.0f} MB"
    )


def startup(env: dict[str, str], n: int, t: Times) -> None:
    """--version and validate in examples/ against import yaml, side by side."""
    example = REPO / "examples"
    verdicts = example / ".ironship" / "cache" / "valid.bin"
    (example / ".ironship").mkdir(exist_ok=True)  # as apply leaves it (README "Set up")
    timed([*IRONSHIP, "validate"], env, example)  # the verdict is remembered from here on
    t["yaml"], t["version"], t["validate"], t["validate_full"] = [], [], [], []
    for _ in range(n):
        t["yaml"].append(timed([PY, "-c", "import yaml"], env))
        t["version"].append(timed([*IRONSHIP, "--version"], env))
        t["validate"].append(timed([*IRONSHIP, "validate"], env, example))
    for _ in range(n):
        verdicts.unlink(missing_ok=True)
        t["validate_full"].append(timed([*IRONSHIP, "validate"], env, example))


ROWS = (
    ("walk", "stat-walk (os.scandir, python)"),
    ("noop", "ironship plan, no change, warm"),
    ("zip", "zip -X -r + md5sum, every worker"),
    ("sha", "sha256sum, 2 processes"),
    ("cold", "ironship plan, no cache"),
    ("upload", "one worker's upload alone"),
    ("apply", "ironship apply -y, 1 file changed"),
    ("yaml", 'python -c "import yaml"'),
    ("version", "ironship --version"),
    ("validate", "ironship validate (examples/)"),
    ("validate_full", "validate, schema checked in full"),
    ("walk_d", "stat-walk, beside the daemon runs"),
    ("daemon", "ironship plan in the daemon"),
)


# (figure, its baseline, label, target) for each ratio printed
RATIOS = (
    ("noop", "walk", "1. no-op plan / stat-walk", "<= 2"),
    ("daemon", "walk_d", "1. plan in the daemon / stat-walk", "<= 2"),
    ("zip", "noop", "1. zip+md5 / no-op plan", ">= 20"),
    ("cold", "sha", "2. cold plan / sha256sum -P2", "<= 1.5"),
    ("version", "yaml", "7. --version / import yaml", "<= 3"),
    ("validate", "yaml", "7. validate / import yaml", "<= 3"),
    ("validate_full", "yaml", "7. validate (full) / import yaml", "-"),
)


def report(top: Path, args: argparse.Namespace, t: Times, rss: str) -> None:
    med = statistics.median
    workers = top / "workers"
    size = sum(f.stat().st_size for f in workers.rglob("*") if f.is_file())
    print(f"monorepo: {args.workers} workers x {args.files} files, {size / 1e9:.2f} GB; {top}")
    print(f"medians of {args.repeat} runs (zip: {args.zip_repeat}), each a fresh process")
    for key, label in ROWS:
        if key in t:
            xs = t[key]
            print(f"  {label:36} {med(xs):7.3f}s  ({', '.join(f'{x:.3f}' for x in xs)})")

    print("ratios (target):")
    for figure, baseline, label, target in RATIOS:
        if figure in t and baseline in t:
            print(f"  {label:34} {med(t[figure]) / med(t[baseline]):6.2f}x  ({target})")
    if "apply" in t and "noop" in t:
        base3 = med(t["noop"]) + med(t["upload"])
        print(f"  3. apply / (no-op plan + upload)   {med(t['apply']) / base3:6.2f}x  (<= 2)")
    if rss:
        print(f"  6. peak RSS: {rss}  (< 150)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size", type=int, default=20480, help="average file size in bytes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zip-repeat", type=int, default=3)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--parts", default=",".join(PARTS), help="figures to measure")
    args = parser.parse_args()
    top = generate(args.workers, args.files, args.size)
    if args.generate_only:
        print(top)
        return
    bench(top, args)


if __name__ == "__main__":
    main()
