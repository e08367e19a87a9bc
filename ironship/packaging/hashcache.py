"""A stat cache for file hashes, so a plan with nothing changed reads no file contents.

Like git's index: a file whose (size, mtime, ctime, inode, mode) are what they were when it
was hashed keeps its SHA-256. ``ctime`` cannot be set by user tools (``touch -d`` changes it),
so an edit that preserves size and mtime is still noticed. Files modified within the last two
seconds before hashing are not cached ("racy" entries whose timestamps may not move on the next
edit). Whatever the cache says, the zip writer re-hashes every byte it packs, so a wrong entry
could never ship different content under an old digest.

The file is compact and read with one call: a magic line, a BLAKE2b checksum of the rest,
then the entries as one ``marshal`` record (the fastest container the standard library reads
back; the checksum is verified first, so a damaged or truncated file is never unmarshalled
and only costs a re-hash). It is rewritten only when an entry was added, changed or dropped:
a plan with nothing changed writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import multiprocessing
import os
import stat
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ironship.packaging.fileset import hash_file

CACHE_VERSION = 2
MAGIC = b"ironship hash cache 2\n"
_SUM = 16  # bytes of BLAKE2b over the marshalled entries
RACY_NS = 2_000_000_000

# Each entry is one bytes value: the stat signature (size, mtime_ns, ctime_ns, inode, mode)
# packed, then the raw SHA-256. One object per file instead of nine keeps a 50,000-file
# cache small in memory and quick to read back.
_SIG = struct.Struct("<QqqQQ")
_SIG_SIZE = _SIG.size
_ENTRY_SIZE = _SIG_SIZE + 32


class HashCache:
    """Path -> stat signature and sha256. Load with :meth:`load`; :meth:`save` when done."""

    def __init__(self, path: Path | None = None, racy_ns: int = RACY_NS) -> None:
        self.path = path
        self.racy_ns = racy_ns
        self._entries: dict[str, bytes] = {}
        self._unread: Path | None = None  # the file, until an entry is first asked for
        self.started_ns = time.time_ns()
        self.hits = 0
        self.misses = 0
        self.bytes_read = 0  # bytes hashed this run (cache misses)
        self._dirty = False
        self._lock = threading.Lock()
        # Hashed ahead by ``prefetch`` but too fresh to keep: good for this run only.
        self._ahead: dict[str, bytes] = {}

    @classmethod
    def load(cls, path: Path, racy_ns: int = RACY_NS) -> HashCache:
        cache = cls(path, racy_ns)
        # Read when first needed: a plan whose file sets all come from the daemon
        # (packaging/resident.py) never reads it.
        cache._unread = path
        return cache

    @property
    def entries(self) -> dict[str, bytes]:
        if self._unread is not None:
            self._read()
        return self._entries

    def _read(self) -> None:
        with self._lock:
            path, self._unread = self._unread, None
            if path is None:
                return
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                return  # no cache yet (or unreadable): everything is hashed
            self._entries = _decode(data)

    def hash(self, source: str) -> tuple[str, int, bool]:
        """(sha256 hex, size, owner-exec bit), from the cache when the file is unchanged."""
        if self._unread is not None:
            self._read()
        st = os.stat(source)
        try:  # (inline: once per file of every plan)
            sig = _SIG.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
        except struct.error:  # a value outside 64 bits: never cached
            sig = b""
        known = self._entries.get(source)
        if known is not None and sig and known[:_SIG_SIZE] == sig:
            self.hits += 1
            return known[_SIG_SIZE:].hex(), st.st_size, bool(st.st_mode & stat.S_IXUSR)
        ahead = self._ahead.pop(source, None)
        if ahead is not None and sig and ahead[:_SIG_SIZE] == sig:
            return ahead[_SIG_SIZE:].hex(), st.st_size, bool(st.st_mode & stat.S_IXUSR)
        self.misses += 1
        sha, size, executable = hash_file(source)
        self._remember(source, sig, st, sha, size)
        return sha, size, executable

    def _remember(self, source: str, sig: bytes, st: os.stat_result, sha: str, size: int) -> bool:
        """Keep a fresh hash unless the file is racy; True when it was kept."""
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            self.bytes_read += size
            if sig and newest < self.started_ns - self.racy_ns and size == st.st_size:
                self._entries[source] = sig + bytes.fromhex(sha)
                self._dirty = True
                return True
            if source in self._entries:
                del self._entries[source]
                self._dirty = True
            return False

    def prefetch(self, sources: Iterable[str], jobs: int) -> None:
        """Hash every file of ``sources`` the cache cannot answer, in ``jobs`` processes.

        Threads cannot do this: per file, the Python between two reads holds the GIL long
        enough that two threads measured slower than one (bench/RESULTS.md). Results land in
        the cache (or, for racy files, in a memo for this run only), so the ``hash`` calls
        that follow are answered without reading. A file that cannot be read here is left
        for ``hash`` to read again and report. The pool forks this process, so only a process
        with one thread hashes ahead (``_can_fork``); otherwise nothing is done here.
        """
        if not _can_fork():
            return
        entries = self.entries

        def todo() -> Iterator[tuple[str, int]]:
            for source in sources:
                try:
                    st = os.stat(source)
                except OSError:
                    continue
                known = entries.get(source)
                sig = _signature(st)
                if known is None or not sig or known[:_SIG_SIZE] != sig:
                    yield source, st.st_size

        try:
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                # Each batch is hashed as soon as it is cut: the walk that finds the files
                # runs while the pool reads the first ones.
                started = [(batch, pool.submit(_hash_batch, batch)) for batch in _batches(todo())]
                for batch, hashed in started:
                    self._take(batch, hashed.result())
        except (BrokenProcessPool, OSError):
            return  # a pool process died (or none could start): hash() reads the rest

    def _take(self, batch: list[str], results: list[_Hashed | None]) -> None:
        for source, result in zip(batch, results, strict=True):
            if result is None:
                continue
            sha, size, st = result
            sig = _signature(st)
            if not self._remember(source, sig, st, sha, size) and sig:
                self._ahead[source] = sig + bytes.fromhex(sha)

    def save(self) -> None:
        """Write the cache atomically when it changed; errors are ignored (only an optimisation)."""
        if self.path is None or not self._dirty:
            return
        body = marshal.dumps(self.entries)
        data = MAGIC + hashlib.blake2b(body, digest_size=_SUM).digest() + body
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
            self._dirty = False
        with contextlib.suppress(OSError):
            tmp.unlink()


def _signature(st: os.stat_result) -> bytes:
    try:
        return _SIG.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
    except struct.error:  # a value outside 64 bits: never cached
        return b""


_BATCH_BYTES = 8 << 20
_BATCH_FILES = 400


def _batches(todo: Iterable[tuple[str, int]]) -> Iterator[list[str]]:
    """The files in order, cut into batches of about 8 MB (or 400 files) as they come."""
    batch: list[str] = []
    total = 0
    for source, size in todo:
        batch.append(source)
        total += size
        if total >= _BATCH_BYTES or len(batch) >= _BATCH_FILES:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


_Hashed = tuple[str, int, os.stat_result]


def _hash_batch(sources: list[str]) -> list[_Hashed | None]:
    """In a pool process: each file's hash, size and the stat it was hashed under."""
    out: list[_Hashed | None] = []
    for source in sources:
        try:
            st = os.stat(source)
            sha, size, _ = hash_file(source)
        except OSError:
            out.append(None)
            continue
        out.append((sha, size, st))
    return out


def _can_fork() -> bool:
    """Whether the pool can fork this process: only while it has one thread (a forked child
    of a threaded process can inherit a lock held by another thread). The other start
    methods import ``__main__`` again in each child, which for ``python -m ironship`` would
    run the command again: never used. Without a pool, ``hash`` reads the files itself."""
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def _decode(data: bytes) -> dict[str, bytes]:
    """The entries of a cache file, or none when it is not one this version wrote intact."""
    head = len(MAGIC) + _SUM
    if not data.startswith(MAGIC) or len(data) < head:
        return {}
    body = data[head:]
    if hashlib.blake2b(body, digest_size=_SUM).digest() != data[len(MAGIC) : head]:
        return {}
    try:
        entries = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return {}
    if not isinstance(entries, dict) or not all(
        isinstance(v, bytes) and len(v) == _ENTRY_SIZE for v in entries.values()
    ):
        return {}
    return entries
