"""What makes packaging fast without changing its promise: already-compressed data is stored,
not deflated again (by extension, or by a probe of a large file's first block), and several
workers are zipped at once (``write_zips``), each zip the same bytes as when written alone."""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.archive import (
    PROBE_BLOCK,
    PROBE_MIN_SIZE,
    package_threads,
    stores_as_is,
    write_zip,
    write_zips,
)
from ironship.packaging.fileset import select_fileset

Tree = dict[str, tuple[bytes, bool]]

RNG = random.Random(12)
NOISE = RNG.randbytes(PROBE_MIN_SIZE + 5000)  # incompressible, like a model or a JPEG
TEXT = b"".join(
    b"def handler_%d(event):\n    return event['x'] + %d\n" % (i, i) for i in range(9000)
)


def write_tree(root: Path, tree: Tree) -> None:
    for rel, (content, executable) in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o755 if executable else 0o644)


def worker(root: Path, name: str = "w") -> Worker:
    return Worker(name=name, root=root.resolve(), entry="main.py", runtime="python")


def _kinds(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as archive:
        return {i.filename: i.compress_type for i in archive.infolist()}


def test_already_compressed_data_is_stored_and_the_rest_deflated(tmp_path: Path) -> None:
    """By extension whatever the size; by the probe only from PROBE_MIN_SIZE bytes on."""
    tree = {
        "main.py": (TEXT, False),
        "model.bin": (NOISE, False),  # no telling extension: the probe stores it
        "small.bin": (NOISE[: PROBE_MIN_SIZE - 1], False),  # too small to probe: deflated
        "photo.JPG": (b"tiny but stored by extension", False),
        "lib.so": (TEXT[:PROBE_BLOCK] + NOISE, False),  # first block compresses: deflated
    }
    write_tree(tmp_path / "w", tree)
    dest = tmp_path / "w.zip"
    write_zip(select_fileset(worker(tmp_path / "w")), dest)
    S, D = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
    assert _kinds(dest) == {
        "lib.so": D,
        "main.py": D,
        "model.bin": S,
        "photo.JPG": S,
        "small.bin": D,
    }
    with zipfile.ZipFile(dest) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {
            k: v[0] for k, v in tree.items()
        }


def test_the_probe_depends_only_on_name_size_and_bytes() -> None:
    """Same input, same decision: the zip's bytes stay a function of the files."""
    assert stores_as_is("a.bin", len(NOISE), NOISE)
    assert not stores_as_is("a.bin", len(TEXT), TEXT)
    assert not stores_as_is("a.bin", PROBE_MIN_SIZE - 1, NOISE)
    assert stores_as_is("archive.tar.GZ", 10, b"0123456789")
    assert [stores_as_is("x.dat", len(NOISE), NOISE[:PROBE_BLOCK]) for _ in range(3)] == [True] * 3


def test_zips_written_together_are_the_bytes_of_each_written_alone(tmp_path: Path) -> None:
    """Four workers on two threads: every zip equals its own sequential write, MD5s in order."""
    filesets = []
    for k in range(4):
        root = tmp_path / f"w{k}"
        write_tree(root, {"main.py": (TEXT[k * 1000 :], False), "m.bin": (NOISE[k:], k == 2)})
        filesets.append(select_fileset(worker(root, name=f"w{k}")))
    alone = [write_zip(fs, tmp_path / "alone" / f"{fs.worker}.zip") for fs in filesets]
    jobs = [(fs, tmp_path / "together" / f"{fs.worker}.zip") for fs in filesets]
    assert write_zips(jobs, threads=2) == alone
    for fs in filesets:
        together = (tmp_path / "together" / f"{fs.worker}.zip").read_bytes()
        assert together == (tmp_path / "alone" / f"{fs.worker}.zip").read_bytes()
    assert write_zips([]) == []


def test_one_failing_zip_fails_the_batch_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """The others are still written whole; the failed one is absent, and the error names it."""
    filesets = []
    for k in range(3):
        root = tmp_path / f"w{k}"
        write_tree(root, {"main.py": (b"print(%d)\n" % k, False)})
        filesets.append(select_fileset(worker(root, name=f"w{k}")))
    (tmp_path / "w1" / "main.py").write_bytes(b"changed after selection\n")
    out = tmp_path / "out"
    with pytest.raises(IronshipError, match=r"'main\.py' changed while packaging"):
        write_zips([(fs, out / f"{fs.worker}.zip") for fs in filesets], threads=3)
    assert sorted(p.name for p in out.iterdir()) == ["w0.zip", "w2.zip"]
    sha = hashlib.sha256(b"print(0)\n").hexdigest()
    with zipfile.ZipFile(out / "w0.zip") as archive:
        assert hashlib.sha256(archive.read("main.py")).hexdigest() == sha


def test_package_threads_is_bounded_by_cores_and_work() -> None:
    assert package_threads(1) == 1
    assert package_threads(0) == 1
    assert 1 <= package_threads(1000) <= 1000
