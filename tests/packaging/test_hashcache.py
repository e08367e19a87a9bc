"""The stat cache that lets a plan with nothing changed skip reading file contents."""

from __future__ import annotations

import hashlib
import os
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
