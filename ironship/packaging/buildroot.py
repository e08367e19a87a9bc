"""Scratch folders for builds under ``.ironship/build/`` beside the manifest, never in the
system temp folder, and the clean-up of those a killed run left behind.

Each run's folder ``NAME/`` has a lock file ``NAME.lock`` beside it, created and locked
(``flock``) before the folder exists and held until the folder is gone. The kernel releases
a lock when its process dies, even by ``kill -9``, so at the next run a folder whose lock can
be taken belongs to no live run and is removed; one whose lock is held is in use and is left
alone (https://man7.org/linux/man-pages/man2/flock.2.html).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ironship import paths

BUILD_DIR = "build"
_LOCK = ".lock"


def build_root(base: Path) -> Path:
    """``.ironship/build`` beside the manifest in ``base``."""
    return paths.state_dir(base) / BUILD_DIR


@contextmanager
def build_folder(base: Path, kind: str = "build") -> Iterator[Path]:
    """A fresh folder under ``.ironship/build/``, removed when the block ends; stale folders
    of dead runs are removed first."""
    root = paths.ensure_state_dir(base) / BUILD_DIR
    root.mkdir(exist_ok=True)
    remove_stale(root)
    name = f"{kind}-{os.getpid()}-{secrets.token_hex(4)}"
    lock = root / f"{name}{_LOCK}"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        folder = root / name
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def remove_stale(root: Path) -> list[str]:
    """Remove the folders under ``root`` whose run is gone; returns their names."""
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.name.endswith(_LOCK) or not entry.is_dir():
            continue
        if _owner_alive(root / f"{entry.name}{_LOCK}"):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        (root / f"{entry.name}{_LOCK}").unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _owner_alive(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (no lock file: no owner)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing drops the lock we may have taken
    return False
