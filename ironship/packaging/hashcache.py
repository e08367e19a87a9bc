"""A stat cache for file hashes, so a plan with nothing changed reads no file contents.

Like git's index: a file whose (size, mtime, ctime, inode, mode) are what they were when it
was hashed keeps its SHA-256. ``ctime`` cannot be set by user tools (``touch -d`` changes it),
so an edit that preserves size and mtime is still noticed. Files modified within the last two
seconds before hashing are not cached ("racy" entries whose timestamps may not move on the next
edit). Whatever the cache says, the zip writer re-hashes every byte it packs, so a wrong entry
could never ship different content under an old digest.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
import time
from pathlib import Path

from ironship.packaging.fileset import hash_file

CACHE_VERSION = 1
RACY_NS = 2_000_000_000

Signature = tuple[int, int, int, int, int]


class HashCache:
    """Path -> (stat signature, sha256). Load with :meth:`load`; :meth:`save` when done."""

    def __init__(self, path: Path | None = None, racy_ns: int = RACY_NS) -> None:
        self.path = path
        self.racy_ns = racy_ns
        self.entries: dict[str, tuple[Signature, str]] = {}
        self.started_ns = time.time_ns()
        self.hits = 0
        self.misses = 0
        self._dirty = False
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, racy_ns: int = RACY_NS) -> HashCache:
        cache = cls(path, racy_ns)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") == CACHE_VERSION:
                for key, (sig, sha) in doc["entries"].items():
                    cache.entries[key] = (tuple(sig), sha)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            cache.entries = {}  # a missing or damaged cache only costs a re-hash
        return cache

    def hash(self, source: str) -> tuple[str, int, bool]:
        """(sha256 hex, size, owner-exec bit), from the cache when the file is unchanged."""
        st = os.stat(source)
        sig: Signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
        known = self.entries.get(source)
        if known is not None and known[0] == sig:
            self.hits += 1
            return known[1], st.st_size, bool(st.st_mode & stat.S_IXUSR)
        self.misses += 1
        sha, size, executable = hash_file(source)
        newest = max(st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            if newest < self.started_ns - self.racy_ns and size == st.st_size:
                self.entries[source] = (sig, sha)
                self._dirty = True
            elif source in self.entries:
                del self.entries[source]
                self._dirty = True
        return sha, size, executable

    def save(self) -> None:
        """Write the cache atomically; errors are ignored (the cache is only an optimisation)."""
        if self.path is None or not self._dirty:
            return
        doc = {
            "version": CACHE_VERSION,
            "entries": {k: [list(sig), sha] for k, (sig, sha) in self.entries.items()},
        }
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
            self._dirty = False
        with contextlib.suppress(OSError):
            tmp.unlink()
