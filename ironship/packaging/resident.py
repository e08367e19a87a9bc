"""File sets a resident process already knows to be current (the daemon, ironship/daemon/).

``select_package`` asks ``current()`` before walking a worker without dependencies: a
resident process that watches the worker's root answers with the file set it computed
before, when nothing under the root changed since, and hears each one computed anew. In a
plain command nobody is installed and every worker is walked.
"""

from __future__ import annotations

from typing import Protocol

from ironship.manifest.models import Worker
from ironship.packaging.fileset import FileSet

# What decides a worker's file set besides the files under its root (packaging/fileset.py).
WorkerKey = tuple[str, str, str, tuple[str, ...], tuple[str, ...]]


def worker_key(worker: Worker) -> WorkerKey:
    """The name (a FileSet carries it), the root (resolved when the manifest was read: a root
    that is a link and now points elsewhere is another key), the entry and the patterns."""
    root = str(worker.root)
    return (worker.name, root, worker.entry, worker.include, worker.exclude)


class Known(Protocol):
    def fileset(self, key: WorkerKey) -> FileSet | None: ...

    def computed(self, key: WorkerKey, fileset: FileSet) -> None: ...


_current: list[Known] = []


def install(known: Known | None) -> None:
    """Make ``known`` the one ``select_package`` asks (None: nobody)."""
    _current[:] = [known] if known is not None else []


def current() -> Known | None:
    return _current[0] if _current else None
