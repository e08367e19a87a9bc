"""Benchmark of plan with vendored Python dependencies: cold (empty cache) versus warm.

    python bench/deps_bench.py [--workers 50] [--packages 8] [--modules 40] [--repeat 3]

Generates WORKERS small Python workers that share one requirements file naming PACKAGES
wheels (built here, MODULES modules each, plus a dependency between two of them), installed
offline from a local folder (``pip_args: [--no-index, --find-links, …]``), and the same
workers without requirements in a second project. Both are applied once to a local engine;
then, each a fresh ``ironship plan`` process (nothing changed on the server):
  * with dependencies, cold: ``.ironship/cache/`` deleted (pip installs the shared tree once);
  * with dependencies, warm: the cache from the previous plan (no pip process);
  * without dependencies, cold and warm, for comparison.
Prints medians and the ratios.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from timing import timed

from ironship.engine.local import create_project
from ironship.engine.server import EngineServer


def _record(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dest: Path, name: str, modules: int, requires: list[str]) -> None:
    """A pure wheel ``name`` 1.0 with ``modules`` modules of about 2 KB each."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/mod_{i:03d}.py": (f"# {name} {i}\n" + "x = 1\n" * 330).encode()
        for i in range(modules)
    }
    files[f"{name}/__init__.py"] = b"VERSION = '1.0'\n"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    files[f"{dist}/METADATA"] = (meta + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{p},{_record(c)},{len(c)}\n" for p, c in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(dest / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)


def generate(top: Path, workers: int, packages: int, modules: int, deps: bool) -> Path:
    links = top / "links"
    if deps:
        links.mkdir()
        for i in range(packages):
            build_wheel(links, f"benchpkg{i}", modules, ["benchpkg0"] if i == 1 else [])
        names = "\n".join(f"benchpkg{i}==1.0" for i in range(packages))
        (top / "requirements.txt").write_text(names + "\n")
    lines = ["version: 1"]
    if deps:
        lines += [
            "defaults:",
            "  requirements: ../../requirements.txt",
            "  python: '3.11'",
            f"  pip_args: [--no-index, --find-links, {links}]",
        ]
    lines.append("workers:")
    for i in range(workers):
        root = top / "workers" / f"w{i:02d}"
        root.mkdir(parents=True)
        (root / "main.py").write_text(f"import benchpkg0\nprint('worker {i}')\n")
        (root / "helper.py").write_text(f"N = {i}\n")
        lines += [f"  w{i:02d}:", f"    root: workers/w{i:02d}", "    entry: main.py"]
    manifest = top / "ironship.yml"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--packages", type=int, default=8)
    parser.add_argument("--modules", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ironship = [sys.executable, "-m", "ironship"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "IRON"))}
    base.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", NO_COLOR="1")
    times: dict[str, list[float]] = {
        key: [] for key in ("deps cold", "deps warm", "plain cold", "plain warm")
    }
    with tempfile.TemporaryDirectory(prefix="ironship-deps-bench-") as tmp:
        tops = {"deps": Path(tmp) / "deps", "plain": Path(tmp) / "plain"}
        manifests = {}
        for kind, top in tops.items():
            top.mkdir()
            deps = kind == "deps"
            manifests[kind] = generate(top, args.workers, args.packages, args.modules, deps)
        time.sleep(2.5)  # let the files age past the hash cache's racy window
        with EngineServer(Path(tmp) / ".engine", workers=2) as engine:
            envs = {}
            for kind in tops:
                pid, token = create_project(engine.data_dir, kind)
                envs[kind] = {
                    **base,
                    "IRON_WORKER_CLOUD": engine.url,
                    "IRON_TOKEN": token,
                    "IRON_PROJECT_ID": pid,
                }
                first = timed([*ironship, "apply", "-f", str(manifests[kind]), "-y"], envs[kind])
                print(f"initial apply, {kind}: {first:.2f}s")
            for _ in range(args.repeat):
                for kind, top in tops.items():
                    plan = [*ironship, "plan", "-f", str(manifests[kind])]
                    shutil.rmtree(top / ".ironship" / "cache", ignore_errors=True)
                    times[f"{kind} cold"].append(timed(plan, envs[kind]))
                    times[f"{kind} warm"].append(timed(plan, envs[kind]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"[{args.workers} workers sharing one requirements file: {args.packages} wheels of "
        f"{args.modules} modules] medians of {args.repeat} runs, each a fresh process"
    )
    for key, values in times.items():
        print(f"plan, {key:<11} {med[key]:.2f}s  ({', '.join(f'{x:.2f}' for x in values)})")
    print(f"ratio deps cold / deps warm:   {med['deps cold'] / med['deps warm']:.2f}x")
    print(f"ratio deps warm / plain warm:  {med['deps warm'] / med['plain warm']:.2f}x")
    print(f"ratio deps cold / plain cold:  {med['deps cold'] / med['plain cold']:.2f}x")


if __name__ == "__main__":
    main()
