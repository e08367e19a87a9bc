"""A task's log and disk caps: how they are measured and what the task is told.

The log is cut at ``log_limit_mb`` (the watcher looks at its size after every read and at
every tick, so a task writing at full speed overshoots by what it writes in one tick, which
is cut off again) and ends with a note. The task directory is measured every ``DISK_EVERY``
seconds, and no single file may grow past the cap (``RLIMIT_FSIZE``: the write fails with
EFBIG, Python reports "File too large"). Memory has its own cap (``memory``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

MB = 1024 * 1024
DISK_EVERY = 0.5  # seconds between two measures of a task directory
_MAX_ENTRIES = 200_000  # a directory with more entries than this is over any sane cap


def log_limit_note(limit_mb: int) -> str:
    """The line that ends a log cut at its limit (and the task's msg)."""
    return f"[ironship: log truncated at {limit_mb} MB; task stopped]"


def disk_limit_msg(limit_mb: int) -> str:
    """The task's msg when its directory outgrew the disk cap."""
    return (
        f"task stopped: its directory grew past the disk limit of {limit_mb} MB "
        "(write large data elsewhere, e.g. an object store)"
    )


def hit_file_limit(stderr_tail: bytes) -> bool:
    """Whether a runtime said a write failed on the per-file cap (EFBIG)."""
    return b"File too large" in stderr_tail or b"EFBIG" in stderr_tail


def file_limit(disk_limit_mb: int, log_limit_mb: int) -> int:
    """The largest file a task process may write, in bytes (0: none): the disk cap, or the
    log cap plus a margin if that is larger, so the log is cut by the watcher, not by EFBIG."""
    if disk_limit_mb <= 0:
        return 0
    return max(disk_limit_mb, log_limit_mb + 1) * MB


def cut_log(log: IO[bytes], limit_mb: int) -> None:
    """Truncate ``log`` to ``limit_mb`` and append the note."""
    fd = log.fileno()
    os.ftruncate(fd, limit_mb * MB)
    os.lseek(fd, 0, os.SEEK_END)
    os.write(fd, f"\n{log_limit_note(limit_mb)}\n".encode())


def log_size(log: IO[bytes]) -> int:
    return os.fstat(log.fileno()).st_size


def tree_size(root: Path, stop_at: int) -> int:
    """Bytes allocated under ``root`` (not following links); stops counting past ``stop_at``."""
    total = 0
    entries = 0
    pending = [str(root)]
    while pending and total <= stop_at:
        folder = pending.pop()
        try:
            scanner = os.scandir(folder)
        except OSError:
            continue
        with scanner:
            for entry in scanner:
                entries += 1
                if entries > _MAX_ENTRIES:
                    return stop_at + 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += max(info.st_size, info.st_blocks * 512)
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return total
