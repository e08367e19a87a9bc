"""Which worker roots changed, and since when: inotify over every folder of each root.

A root is *clean since* generation ``g`` when no event under it has been seen after ``g``.
Every event bumps one counter, the generation, and stamps the roots of the folder it came
from; precision is the root, not the file, so a missed detail can only cost a walk.

What makes "no event" mean "no change":

- Folders are watched as they appear: a folder created or moved in is watched, with its
  sub-folders, before its root is stamped, so whatever a walk after the stamp sees, a later
  change to it is seen too.
- ``sync`` asks the kernel's queue to catch up: it creates a cookie file in the daemon's own
  folder and waits for that event. inotify delivers one instance's events in order, so every
  change made before ``sync`` was called has been read once it returns (the same handshake as
  git's fsmonitor daemon, https://git-scm.com/docs/git-fsmonitor--daemon).
- A full queue (``IN_Q_OVERFLOW``) loses events: every root is stamped and its folders
  watched again. A folder that cannot be watched (the ``fs.inotify.max_user_watches`` limit)
  makes its root unwatched: its plans walk it every time.
- ``.git``, ``.hg``, ``.svn`` and ``.ironship`` folders never ship (packaging/fileset.py's
  hard excludes), so they are not watched: git's own churn stamps nothing.

https://man7.org/linux/man-pages/man7/inotify.7.html has the event semantics.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from inotify_simple import INotify, flags

from ironship.packaging.fileset import HARD_EXCLUDES

_SKIP = frozenset(p.rstrip("/") for p in HARD_EXCLUDES)
_CHANGES = (
    flags.MODIFY
    | flags.ATTRIB
    | flags.CREATE
    | flags.DELETE
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.DELETE_SELF
    | flags.MOVE_SELF
)
_FOLDER_IN = flags.CREATE | flags.MOVED_TO
_GONE = flags.DELETE_SELF | flags.MOVE_SELF
COOKIE = "cookie-"


class Roots:
    """The watched roots of one daemon and the generation each last changed at."""

    def __init__(self, cookies: Path) -> None:
        self.inotify = INotify()
        self.lock = threading.Lock()
        self.generation = 0
        self.changed: dict[str, int] = {}  # root -> generation of its last event
        self.watched: set[str] = set()  # roots whose every folder is watched
        self.folders: dict[int, str] = {}  # watch -> folder
        self.roots_of: dict[int, set[str]] = {}  # watch -> the roots that folder is under
        self.cookies = cookies
        self._cookie_watch = self.inotify.add_watch(cookies, flags.CREATE | flags.ONLYDIR)
        self._seen_cookie = 0
        self._asked_cookie = 0
        self._cookie_seen = threading.Condition(self.lock)
        self.overflows = 0
        self._stop = False

    # --- asked by the daemon -------------------------------------------------------------
    def add(self, root: str) -> None:
        """Watch ``root`` (a real path) and every folder under it; stamps it changed."""
        with self.lock:
            if root in self.watched:
                return
            if self._watch_tree(root, {root}):
                self.watched.add(root)
            self._stamp([root])

    def clean_since(self, root: str, generation: int) -> bool:
        """Whether nothing under ``root`` changed after ``generation`` (and it is watched)."""
        return root in self.watched and self.changed.get(root, 0) <= generation

    def sync(self, timeout: float = 2.0) -> int | None:
        """Read every event that happened before this call; the generation then, or None
        when the cookie did not come back in time (the caller then trusts nothing)."""
        with self.lock:
            self._asked_cookie += 1
            token = self._asked_cookie
        cookie = self.cookies / f"{COOKIE}{token}"
        cookie.touch()
        try:
            with self._cookie_seen:
                seen = self._cookie_seen.wait_for(lambda: self._seen_cookie >= token, timeout)
                return self.generation if seen else None
        finally:
            cookie.unlink(missing_ok=True)

    def status(self) -> dict[str, int]:
        with self.lock:
            return {
                "roots": len(self.watched),
                "folders": len(self.folders),
                "generation": self.generation,
                "overflows": self.overflows,
            }

    def stop(self) -> None:
        self._stop = True
        self.cookies.joinpath(f"{COOKIE}stop").touch()  # wakes the reader

    # --- the reader thread ---------------------------------------------------------------
    def run(self) -> None:
        """Read events until ``stop``; each batch is handled under the lock."""
        while not self._stop:
            events = list(self.inotify.read(timeout=1000))
            if events:
                with self.lock:
                    self.handle(events)
        self.inotify.close()

    def handle(self, events: Iterable[tuple[int, int, int, str]]) -> None:
        """Apply a batch of (watch, mask, cookie, name) events; the caller holds the lock."""
        stamped: set[str] = set()
        for wd, mask, _, name in events:
            if mask & flags.Q_OVERFLOW:
                self._overflowed()
            elif wd == self._cookie_watch:
                self._cookie(name)
            elif wd in self.roots_of:
                stamped |= self._changed(wd, mask, name)
        if stamped:
            self._stamp(stamped)

    def _changed(self, wd: int, mask: int, name: str) -> set[str]:
        """The roots one event under a watched folder stamps (none for what never ships)."""
        roots = self.roots_of[wd]
        if mask & flags.IGNORED:
            self._forget(wd)
            return set()
        if name in _SKIP:
            return set()
        new_folder = mask & flags.ISDIR and mask & _FOLDER_IN
        if new_folder and not self._watch_tree(os.path.join(self.folders[wd], name), roots):
            self.watched -= roots
        if mask & _GONE and self.folders.get(wd) in roots:
            self.watched -= {self.folders[wd]}  # the root itself went: watched no more
        return set(roots)

    # --- inside ----------------------------------------------------------------------------
    def _stamp(self, roots: Iterable[str]) -> None:
        self.generation += 1
        for root in roots:
            self.changed[root] = self.generation

    def _cookie(self, name: str) -> None:
        number = name[len(COOKIE) :]
        if name.startswith(COOKIE) and number.isdigit():
            self._seen_cookie = max(self._seen_cookie, int(number))
            self._cookie_seen.notify_all()

    def _watch_tree(self, top: str, roots: set[str]) -> bool:
        """Watch ``top`` and the folders under it for ``roots``; False when one can't be."""
        complete = True
        for folder, dirs, _ in os.walk(top, onerror=lambda _: None):
            dirs[:] = [d for d in dirs if d not in _SKIP]
            try:
                wd = self.inotify.add_watch(folder, _CHANGES | flags.ONLYDIR | flags.DONT_FOLLOW)
            except OSError:
                complete = False  # gone already, or the watch limit: walked every time
                continue
            self.folders[wd] = folder
            self.roots_of.setdefault(wd, set()).update(roots)
        return complete

    def _forget(self, wd: int) -> None:
        self.folders.pop(wd, None)
        self.roots_of.pop(wd, None)

    def _overflowed(self) -> None:
        """Events were lost: watch every root's folders again and stamp them all."""
        self.overflows += 1
        for root in list(self.watched):
            if not self._watch_tree(root, {root}):
                self.watched.discard(root)
        self._stamp(self.watched | set(self.changed))
