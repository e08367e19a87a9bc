"""Paths named on the command line, checked before any work starts.

A command that would deploy, run tests or build zips first makes sure it can write what it
was asked to write, so a bad ``--junit DIR`` or ``--out FILE`` never costs a deploy whose
result is then lost, and never ends in a half-written folder or a Python traceback. Each
error names the flag, the path and what to do instead (docs/architecture.md, Conventions 3).
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


def _check_parents(path: Path, flag: str, *, write: bool = True) -> None:
    """Every existing ancestor of ``path`` must be a folder (writable when ``write``)."""
    found = _first_existing(path.parent if path.parent != path else path)
    if not found.is_dir():
        raise IronshipError(
            f"{flag} {path}: {found} is a file, not a folder",
            hint=f"choose a path under a folder for {flag}, or move {found} away",
        )
    if write and not os.access(found, os.W_OK | os.X_OK):
        raise IronshipError(
            f"{flag} {path}: cannot write in {found}", hint="choose a folder you can write to"
        )


def _not_a_file(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise IronshipError(
            f"{flag} {path}: is a file, not a folder",
            hint=f"give {flag} a folder path (it is created when missing), or move the file away",
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
    _not_a_file(path, flag)
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise IronshipError(f"{flag} {path}: cannot write in it", hint="choose another folder")
        return
    _check_parents(path, flag)


def folder_path(path: Path, flag: str) -> None:
    """``path`` names a folder, or nothing yet, but never a file (it is only read)."""
    _not_a_file(path, flag)
    if not path.exists():
        _check_parents(path, flag, write=False)
