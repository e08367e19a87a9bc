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
import os
import stat
import struct
import threading
import time
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
        self.entries: dict[str, bytes] = {}
        self.started_ns = time.time_ns()
        self.hits = 0
        self.misses = 0
        self.bytes_read = 0  # bytes hashed this run (cache misses)
        self._dirty = False
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, racy_ns: int = RACY_NS) -> HashCache:
        cache = cls(path, racy_ns)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return cache  # no cache yet (or unreadable): everything is hashed
        cache.entries = _decode(data)
        return cache

    def hash(self, source: str) -> tuple[str, int, bool]:
        """(sha256 hex, size, owner-exec bit), from the cache when the file is unchanged."""
        st = os.stat(source)
        try:
            sig = _SIG.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
        except struct.error:  # a value outside 64 bits: never cached
            sig = b""
        known = self.entries.get(source)
        if known is not None and sig and known[:_SIG_SIZE] == sig:
            self.hits += 1
            return known[_SIG_SIZE:].hex(), st.st_size, bool(st.st_mode & stat.S_IXUSR)
        self.misses += 1
        sha, size, executable = hash_file(source)
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            self.bytes_read += size
            if sig and newest < self.started_ns - self.racy_ns and size == st.st_size:
                self.entries[source] = sig + bytes.fromhex(sha)
                self._dirty = True
            elif source in self.entries:
                del self.entries[source]
                self._dirty = True
        return sha, size, executable

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
