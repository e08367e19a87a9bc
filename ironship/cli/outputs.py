"""Output paths named on the command line, checked before any work starts.

A command that would deploy, run tests or build zips first makes sure it can write what it
was asked to write, so a bad ``--junit DIR`` or ``--out FILE`` never costs a deploy whose
result is then lost.
"""

from __future__ import annotations

import os
from pathlib import Path

from ironship.errors import IronshipError


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _check_parents(path: Path, flag: str) -> None:
    """Every existing ancestor of ``path`` must be a writable folder."""
    found = _first_existing(path.parent if path.parent != path else path)
    if not found.is_dir():
        raise IronshipError(
            f"{flag} {path}: {found} is a file, not a folder",
            hint=f"choose a path under a folder for {flag}",
        )
    if not os.access(found, os.W_OK | os.X_OK):
        raise IronshipError(
            f"{flag} {path}: cannot write in {found}", hint="choose a folder you can write to"
        )


def writable_file(path: Path, flag: str) -> None:
    """``path`` can be created or overwritten as a file."""
    if path.is_dir():
        raise IronshipError(
            f"{flag} {path}: is a folder; it needs a file name",
            hint=f"for example {flag} {path / 'report.xml'}",
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise IronshipError(f"{flag} {path}: the file is not writable", hint="choose another path")
    _check_parents(path, flag)


def writable_dir(path: Path, flag: str) -> None:
    """``path`` is, or can be created as, a writable folder."""
    if path.exists() and not path.is_dir():
        raise IronshipError(
            f"{flag} {path}: is a file, not a folder", hint=f"give {flag} a folder path"
        )
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise IronshipError(f"{flag} {path}: cannot write in it", hint="choose another folder")
        return
    _check_parents(path, flag)
