"""Benchmark of packaging: ironship's reproducible zip versus ``zip -X -r -q``.

    python bench/package_bench.py [--size-mb 200] [--repeat 3]

Generates a worker of about SIZE_MB: source-like text files (about a fifth), already
compressed files (.png .jpg .gz .zip .whl .jar, about a third) and three large binaries (an
incompressible model, a half-compressible native library, a compressible table). Then times,
side by side, alternating, each a fresh process, the page cache warmed first:
  * ``zip -X -r -q OUT.zip .`` in the worker's folder (the baseline);
  * ``ironship package WORKER --out DIR`` (the whole command: manifest, hashing every file,
    the zip).
Then the same tree split into four workers, to show workers zipped in parallel: the
``write_zips`` that apply uses, one thread (the baseline) versus its default (one per core),
each in a fresh Python process, after the files were selected and hashed.
Prints medians and ratios baseline / ironship (> 1: ironship is faster).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import timed

KINDS = ("png", "jpg", "gz", "zip", "whl", "jar")
MB = 1 << 20

PARALLEL = r"""
import sys, time
from pathlib import Path
from ironship.manifest.load import load_manifest
from ironship.packaging.archive import write_zips
from ironship.packaging.fileset import select_fileset
manifest = load_manifest(Path(sys.argv[1]))
jobs = [(select_fileset(w), Path(sys.argv[2]) / f"{w.name}.zip") for w in manifest.workers]
start, cpu = time.perf_counter(), time.process_time()
write_zips(jobs, threads=int(sys.argv[3]) or None)
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def generate(root: Path, size_mb: int, seed: int = 7) -> None:
    """A worker of about ``size_mb`` MB: 20% text, 30% compressed files, 50% large binaries."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10)))
        for _ in range(3000)
    ]
    lines = []
    for _ in range(100_000):
        indent = "    " * rng.randint(0, 3)
        lines.append(indent + " ".join(rng.choice(words) for _ in range(rng.randint(2, 12))))
    corpus = "\n".join(lines) + "\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text("print('hello')\n")
    text_bytes = size_mb * MB // 5
    written, i = 0, 0
    while written < text_bytes:
        n = rng.randint(2000, 38000)
        off = rng.randrange(0, len(corpus) - n)
        path = root / "src" / f"pkg{i % 40:02d}" / f"mod{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(corpus[off : off + n])
        written += n
        i += 1
    assets = root / "assets"
    assets.mkdir()
    for k in range(size_mb * 3 // 10):
        (assets / f"file{k:03d}.{KINDS[k % len(KINDS)]}").write_bytes(rng.randbytes(MB))
    big = root / "bin"
    big.mkdir()
    (big / "model.bin").write_bytes(rng.randbytes(size_mb // 5 * MB))
    text = corpus.encode()
    blocks = [
        rng.randbytes(8192) if j % 2 else text[(j * 8192) % (len(text) - 8192) :][:8192]
        for j in range(size_mb * 3 // 20 * 128)
    ]
    (big / "native.so").write_bytes(b"".join(blocks))
    rows = []
    for k in range(size_mb * 3 // 20 * MB // 40):
        rows.append(f"{k:08d},{rng.randint(0, 10**6)},{rng.choice(words)},{rng.random():.6f}\n")
    (big / "table.dat").write_bytes("".join(rows).encode())


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def warm(root: Path) -> None:
    """Read every file once, so both sides start from the same (warm) page cache."""
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                while f.read(MB):
                    pass


def inner(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """A command that prints its own timing of the part measured: wall and CPU seconds."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("zip") is None:
        sys.exit("this benchmark needs the zip command (Info-ZIP)")
    ironship = [sys.executable, "-m", "ironship"]
    with tempfile.TemporaryDirectory(prefix="ironship-package-bench-") as tmp:
        top = Path(tmp)
        root = top / "one" / "big"
        generate(root, args.size_mb)
        (top / "one" / "ironship.yml").write_text(
            "version: 1\nworkers:\n  big:\n    root: big\n    entry: main.py\n"
        )
        size = tree_size(root)
        files = sum(1 for p in root.rglob("*") if p.is_file())
        print(f"one worker: {files} files, {size / MB:.0f} MB")
        warm(root)
        zip_t, ship_t = [], []
        for k in range(args.repeat):
            out = top / f"zip{k}.zip"
            zip_t.append(timed(["zip", "-X", "-r", "-q", str(out), "."], cwd=root))
            dist = top / f"dist{k}"
            ship_t.append(timed([*ironship, "package", "big", "--out", str(dist)], cwd=top / "one"))
            zip_size, ship_size = out.stat().st_size, (dist / "big.zip").stat().st_size
            out.unlink()
            shutil.rmtree(dist)
        print(f"  zip sizes: zip -X -r -q {zip_size / MB:.1f} MB, ironship {ship_size / MB:.1f} MB")

        # The same content as four workers of a quarter each, zipped together.
        four = top / "four"
        lines = ["version: 1", "workers:"]
        for w in range(4):
            generate(four / f"w{w}", args.size_mb // 4, seed=w)
            lines += [f"  w{w}:", f"    root: w{w}", "    entry: main.py"]
        (four / "ironship.yml").write_text("\n".join(lines) + "\n")
        warm(four)
        one_t: list[float] = []
        par_t: list[float] = []
        cores: dict[int, list[float]] = {1: [], 0: []}
        script = [sys.executable, "-c", PARALLEL, str(four / "ironship.yml")]
        for k in range(args.repeat):
            for threads, times in ((1, one_t), (0, par_t)):
                dest = top / f"par{k}-{threads}"
                dest.mkdir()
                wall, cpu = inner([*script, str(dest), str(threads)], four)
                times.append(wall)
                cores[threads].append(cpu / wall)
                shutil.rmtree(dest)

    base, ship = statistics.median(zip_t), statistics.median(ship_t)
    one, par = statistics.median(one_t), statistics.median(par_t)
    print(f"[{args.size_mb} MB worker, {os.cpu_count()} cores] medians of {args.repeat} runs")
    print(f"zip -X -r -q (baseline):      {base:.2f}s  ({_fmt(zip_t)})")
    print(f"ironship package (whole cmd): {ship:.2f}s  ({_fmt(ship_t)})")
    print(f"  ratio zip / ironship: {base / ship:.2f}x")
    print(f"4 workers of {args.size_mb // 4} MB, write_zips:")
    busy = {k: statistics.median(v) for k, v in cores.items()}
    print(f"one thread (baseline):        {one:.2f}s  ({_fmt(one_t)})  cores busy {busy[1]:.2f}")
    print(f"default (one per core):       {par:.2f}s  ({_fmt(par_t)})  cores busy {busy[0]:.2f}")
    print(f"  ratio one thread / parallel: {one / par:.2f}x")


if __name__ == "__main__":
    main()
