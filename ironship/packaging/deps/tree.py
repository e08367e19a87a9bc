"""A freshly installed tree made deterministic, then indexed.

What installers leave that would differ between two machines or two runs is removed or
rewritten before the tree is cached (docs/architecture.md, Conventions 9):

- ``__pycache__`` folders and ``.pyc`` files (pip runs with ``--no-compile``; this is the net);
- npm's hidden lockfile ``node_modules/.package-lock.json`` (it records the install folder)
  and ``node_modules/.bin`` (symlinks, which a package cannot hold);
- bundler's downloaded ``.gem`` archives (``vendor/bundle/ruby/*/cache``);
- the ``#!`` line pip writes into console scripts, which names the interpreter that ran pip:
  it becomes ``#!/usr/bin/env python3`` and the script's line in its ``RECORD`` is updated,
  so ``RECORD`` stays true to the files shipped.

Everything else, ``RECORD`` files included, is kept as installed. Symlinks to files inside
the tree ship as copies; any other symlink is dropped.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ironship.packaging.fileset import hash_file

_PY_SHEBANG = b"#!/usr/bin/env python3"


@dataclass(frozen=True)
class TreeFile:
    """One file of a vendored tree: its package path and what identifies its content."""

    path: str  # the package path, e.g. "__pips__/requests/api.py"
    executable: bool
    sha256: str
    size: int


def normalise(tree: Path) -> None:
    """Remove and rewrite, under ``tree``, what would make two installs differ."""
    for folder, dirs, names in os.walk(tree):
        here = Path(folder)
        for name in [d for d in dirs if d == "__pycache__" or _dropped_dir(here / d, tree)]:
            shutil.rmtree(here / name)
            dirs.remove(name)
        for name in names:
            path = here / name
            if name.endswith((".pyc", ".pyo")) or _dropped_file(path, tree):
                path.unlink()
    _fix_scripts(tree / "__pips__")


def _dropped_dir(path: Path, tree: Path) -> bool:
    rel = path.relative_to(tree).as_posix()
    if rel == "node_modules/.bin":
        return True
    parts = rel.split("/")
    return parts[:3] == ["vendor", "bundle", "ruby"] and len(parts) == 5 and parts[4] == "cache"


def _dropped_file(path: Path, tree: Path) -> bool:
    if path.relative_to(tree).as_posix() == "node_modules/.package-lock.json":
        return True
    if not path.is_symlink():
        return False
    target = path.resolve()
    return not (target.is_file() and target.is_relative_to(tree.resolve()))


def _fix_scripts(pips: Path) -> None:
    """Point pip's console scripts at ``python3`` and keep their RECORD lines true."""
    bin_dir = pips / "bin"
    if not bin_dir.is_dir():
        return
    changed: dict[str, tuple[str, int]] = {}  # script name -> (RECORD hash, size)
    for script in sorted(bin_dir.iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        first, newline, rest = data.partition(b"\n")
        if not first.startswith(b"#!") or b"python" not in first or first == _PY_SHEBANG:
            continue
        fixed = _PY_SHEBANG + newline + rest
        script.write_bytes(fixed)
        changed[script.name] = (_record_hash(fixed), len(fixed))
    if changed:
        for record in pips.glob("*.dist-info/RECORD"):
            _update_record(record, changed)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _update_record(record: Path, changed: dict[str, tuple[str, int]]) -> None:
    rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
    touched = False
    for row in rows:
        if len(row) >= 3 and "bin/" in row[0] and row[0].rsplit("/", 1)[-1] in changed:
            row[1], size = changed[row[0].rsplit("/", 1)[-1]]
            row[2] = str(size)
            touched = True
    if touched:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        record.write_text(text.getvalue(), encoding="utf-8")


def index_tree(tree: Path) -> tuple[TreeFile, ...]:
    """Every file under ``tree``, sorted by package path, with its hash, size and exec bit."""
    found: list[TreeFile] = []
    for folder, dirs, names in os.walk(tree):
        dirs.sort()
        here = Path(folder)
        for name in names:
            path = here / name
            info = path.stat()  # follows a kept symlink to its file
            if not stat.S_ISREG(info.st_mode):
                continue
            sha, size, executable = hash_file(path)
            found.append(TreeFile(path.relative_to(tree).as_posix(), executable, sha, size))
    return tuple(sorted(found, key=lambda f: f.path))
