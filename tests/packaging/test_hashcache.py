"""The stat cache that lets a plan with nothing changed skip reading file contents."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ironship.packaging.hashcache import HashCache


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def aged(path: Path, data: bytes) -> str:
    """Write a file; tests then use a zero racy window (its ctime cannot be set back)."""
    path.write_bytes(data)
    time.sleep(0.002)
    return str(path)


def test_unchanged_file_is_served_from_the_cache(tmp_path: Path) -> None:
    """A second run with a saved cache hashes nothing and returns the same digest."""
    src = aged(tmp_path / "a.py", b"print(1)\n")
    first = HashCache(tmp_path / "c.json", racy_ns=0)
    assert first.hash(src)[0] == sha(b"print(1)\n")
    first.save()
    second = HashCache.load(tmp_path / "c.json", racy_ns=0)
    assert second.hash(src) == (sha(b"print(1)\n"), 9, False)
    assert (second.hits, second.misses) == (1, 0)


def test_same_size_edit_with_restored_mtime_is_noticed(tmp_path: Path) -> None:
    """An edit that keeps size and mtime still changes ctime, so the file is re-hashed."""
    path = tmp_path / "a.py"
    src = aged(path, b"AAAA")
    cache = HashCache(tmp_path / "c.json", racy_ns=0)
    cache.hash(src)
    cache.save()
    stat = path.stat()
    time.sleep(0.01)
    path.write_bytes(b"BBBB")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = HashCache.load(tmp_path / "c.json", racy_ns=0)
    assert again.hash(src)[0] == sha(b"BBBB")
    assert again.misses == 1


def test_fresh_files_are_not_cached(tmp_path: Path) -> None:
    """A file modified within the racy window is hashed but never remembered."""
    src = tmp_path / "new.py"
    src.write_bytes(b"x")
    cache = HashCache(tmp_path / "c.json")
    cache.hash(str(src))
    cache.save()
    assert not (tmp_path / "c.json").exists()
    assert HashCache.load(tmp_path / "c.json", racy_ns=0).entries == {}


def test_damaged_cache_is_ignored(tmp_path: Path) -> None:
    """A corrupt cache file costs a re-hash, never an error."""
    src = aged(tmp_path / "a.py", b"data")
    (tmp_path / "c.json").write_text("{not json")
    cache = HashCache.load(tmp_path / "c.json", racy_ns=0)
    assert cache.hash(src)[0] == sha(b"data")
    (tmp_path / "c.json").write_text('{"version": 1, "entries": {"x": 5}}')
    assert HashCache.load(tmp_path / "c.json", racy_ns=0).entries == {}


def test_exec_bit_follows_the_file_not_the_cache(tmp_path: Path) -> None:
    """chmod +x changes the mode in the stat signature, so the exec bit is re-read."""
    path = tmp_path / "run.sh"
    src = aged(path, b"echo hi\n")
    cache = HashCache(tmp_path / "c.json", racy_ns=0)
    assert cache.hash(src)[2] is False
    cache.save()
    path.chmod(0o755)
    assert HashCache.load(tmp_path / "c.json", racy_ns=0).hash(src)[2] is True


def test_racy_entry_is_rehashed_on_the_next_run(tmp_path: Path) -> None:
    """A file written just before the run is hashed but not trusted: the next run reads it
    again, so an edit in the same timestamp tick can never hide behind the cache."""
    path = tmp_path / "a.py"
    path.write_bytes(b"one")
    cache = HashCache(tmp_path / "c.bin")  # the default 2 s racy window
    assert cache.hash(str(path))[0] == sha(b"one")
    cache.save()
    again = HashCache.load(tmp_path / "c.bin")
    assert again.hash(str(path))[0] == sha(b"one")
    assert (again.hits, again.misses) == (0, 1)


def test_size_mtime_and_inode_changes_are_each_noticed(tmp_path: Path) -> None:
    """Each part of the stat signature alone makes the file be read again."""
    path = tmp_path / "a.py"
    src = aged(path, b"AAAA")
    cache = HashCache(tmp_path / "c.bin", racy_ns=0)
    cache.hash(src)
    cache.save()
    before = path.stat()

    path.write_bytes(b"AAAAA")  # size
    assert HashCache.load(tmp_path / "c.bin", racy_ns=0).hash(src)[0] == sha(b"AAAAA")

    path.write_bytes(b"CCCC")  # same size, newer mtime
    assert HashCache.load(tmp_path / "c.bin", racy_ns=0).hash(src)[0] == sha(b"CCCC")

    # Same size and mtime as first cached, but another file (a new inode) renamed in place.
    other = tmp_path / "other.py"
    other.write_bytes(b"DDDD")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)
    assert path.stat().st_ino != before.st_ino
    assert HashCache.load(tmp_path / "c.bin", racy_ns=0).hash(src)[0] == sha(b"DDDD")


def test_cache_is_not_rewritten_when_nothing_changed(tmp_path: Path) -> None:
    """A run that only hits the cache writes nothing: the file stays the very same file."""
    src = aged(tmp_path / "a.py", b"data")
    first = HashCache(tmp_path / "c.bin", racy_ns=0)
    first.hash(src)
    first.save()
    written = (tmp_path / "c.bin").stat()
    second = HashCache.load(tmp_path / "c.bin", racy_ns=0)
    second.hash(src)
    second.save()
    now = (tmp_path / "c.bin").stat()
    assert (now.st_ino, now.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "c.bin"]  # no temp file


def test_every_kind_of_damage_is_ignored(tmp_path: Path) -> None:
    """Truncated, bit-flipped, foreign or empty cache files cost a re-hash, never an error,
    and the next save replaces them with a good one."""
    src = aged(tmp_path / "a.py", b"data")
    good = HashCache(tmp_path / "c.bin", racy_ns=0)
    good.hash(src)
    good.save()
    data = (tmp_path / "c.bin").read_bytes()
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    for damaged in (b"", data[:10], data[:-3], bytes(flipped), b"\x00" * len(data), b"{}"):
        (tmp_path / "c.bin").write_bytes(damaged)
        cache = HashCache.load(tmp_path / "c.bin", racy_ns=0)
        assert cache.entries == {}
        assert cache.hash(src) == (sha(b"data"), 4, False)
        cache.save()
        assert HashCache.load(tmp_path / "c.bin", racy_ns=0).hash(src)[0] == sha(b"data")


def test_a_changed_file_drops_its_stale_entry(tmp_path: Path) -> None:
    """A file that changes inside the racy window loses its old entry (the cache is
    rewritten without it) rather than keeping a signature that no longer fits."""
    path = tmp_path / "a.py"
    src = aged(path, b"old")
    first = HashCache(tmp_path / "c.bin", racy_ns=0)
    first.hash(src)
    first.save()
    path.write_bytes(b"new!")
    second = HashCache.load(tmp_path / "c.bin")  # 2 s window: the edit is racy
    assert second.hash(src)[0] == sha(b"new!")
    second.save()
    assert HashCache.load(tmp_path / "c.bin").entries == {}


PREFETCH = r"""
import hashlib, sys, time
from pathlib import Path
import pytest
from ironship.packaging.hashcache import HashCache

def sha(data):
    return hashlib.sha256(data).hexdigest()

tmp = Path(sys.argv[1])
old = []
for i in range(30):
    (tmp / f"old{i}.py").write_bytes(b"o%d" % i)
    old.append(str(tmp / f"old{i}.py"))
time.sleep(0.02)
cache = HashCache(tmp / "c.bin", racy_ns=5_000_000)  # 5 ms window
time.sleep(0.01)
fresh = str(tmp / "fresh.py")
Path(fresh).write_bytes(b"fresh")
cache.prefetch([*old, fresh, str(tmp / "missing.py")], jobs=2)
assert [cache.hash(src)[0] for src in old] == [sha(b"o%d" % i) for i in range(30)]
assert cache.hash(fresh)[0] == sha(b"fresh")
assert cache.misses == 0 and cache.bytes_read == sum(len(b"o%d" % i) for i in range(30)) + 5
cache.save()
assert sorted(HashCache.load(tmp / "c.bin").entries) == sorted(old)
with pytest.raises(FileNotFoundError):
    cache.hash(str(tmp / "missing.py"))
print("ok")
"""


def test_prefetch_hashes_ahead_in_processes(tmp_path: Path) -> None:
    """Files hashed ahead by the process pool are then answered without reading; fresh
    (racy) ones count for this run only and are never saved; an unreadable one is left for
    ``hash`` to read and report. In a fresh interpreter: the pool forks only a process with
    one thread, and a test run has others."""
    done = subprocess.run(
        [sys.executable, "-c", PREFETCH, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_prefetch_with_other_threads_leaves_the_reading_to_hash(tmp_path: Path) -> None:
    """A process with other threads never forks a pool: nothing is hashed ahead, and every
    file is still hashed, by ``hash`` itself."""
    srcs = [aged(tmp_path / f"f{i}.py", b"%d" % i) for i in range(5)]
    cache = HashCache(tmp_path / "c.bin", racy_ns=0)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        cache.prefetch(srcs, jobs=2)
    finally:
        stop.set()
        other.join()
    assert cache.entries == {} and cache.bytes_read == 0
    assert [cache.hash(s)[0] for s in srcs] == [sha(b"%d" % i) for i in range(5)]
    assert cache.misses == 5
