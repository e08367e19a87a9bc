"""Which files a worker ships, and the content digest that identifies them (issue 3 §2).

Selection is deterministic: directories are read with ``os.scandir`` and sorted by name, paths
are POSIX, NFC-normalised and relative to the worker's root, so the same tree selects the same
files on any filesystem (PEERS pain point 1: ``readdir`` order differs between filesystems).

Rules, applied to each file path in this order (all patterns use gitignore semantics through
``pathspec.GitIgnoreSpec``; within one list the last matching pattern wins and ``!`` negates):

1. Always out: ``.git``, ``.hg``, ``.svn`` (directories, or a submodule's ``.git`` file),
   ``.ironship/`` (ironship's own state dir, at any depth, so the manifest's state dir is covered
   wherever root is) and the root ``.ironshipignore`` itself. Nothing re-includes these.
2. ``include`` (when not empty): the path must match it.
3. One ignore list made of the soft defaults (``__pycache__/``, ``*.pyc``, ``.DS_Store``), then the
   worker's ``exclude`` patterns, then the lines of ``root/.ironshipignore``. A later ``!`` line
   (e.g. ``!*.pyc`` in ``exclude``) re-includes what an earlier line excluded.
4. "Unless asked": a file excluded only by a soft default is kept when an ``include`` pattern that
   names the default (its text contains ``.pyc``, ``__pycache__`` or ``.DS_Store``) matches it.

Symlinks: a link to a file inside root ships that file's content as a regular file; a link to a
directory inside root is followed, except a link back to one of its own ancestors (a loop), which
is skipped. A link pointing outside root is an error unless the rules exclude it. Sockets, FIFOs
and devices are skipped. The exec bit is the owner-exec bit of the resolved file; no other mode
bit matters (PEERS pain point 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import pathspec

from ironship.deploy.stamps import STAMP_PREFIX
from ironship.errors import IronshipError
from ironship.manifest.models import Worker

IGNORE_FILE = ".ironshipignore"
HARD_EXCLUDES = (".git", ".hg", ".svn", ".ironship/")
SOFT_EXCLUDES = ("__pycache__/", "*.pyc", ".DS_Store")
DEFAULT_EXCLUDES = HARD_EXCLUDES + SOFT_EXCLUDES
_SOFT_KEYWORDS = ("__pycache__", ".pyc", ".DS_Store")
# Bumped only if the canonical encoding below changes; every stamp on the server would then differ.
DIGEST_FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    """One file of a package: its place in the zip and what identifies its content."""

    path: str  # posix, relative to the worker's root, NFC-normalised
    executable: bool
    sha256: str  # hex
    size: int
    source: Path  # where to read it (under root; may be a symlink, which open() follows)


@dataclass(frozen=True)
class FileSet:
    """A worker's selected files plus its upload settings; ``digest`` identifies both."""

    worker: str
    root: Path
    files: tuple[FileEntry, ...]  # sorted by path
    settings: Mapping[str, Any]
    digest: str  # "sha256:<hex>"

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class _Origin:
    """Where a pattern of the ignore list came from, for "excluded by ..." messages."""

    label: str
    pattern: str
    soft: bool = False

    def __str__(self) -> str:
        return f"{self.label} '{self.pattern}'"


class _Rules:
    """The compiled selection rules of one worker (see the module docstring)."""

    def __init__(self, worker: Worker, root: str) -> None:
        self.hard = pathspec.GitIgnoreSpec.from_lines(HARD_EXCLUDES)
        self.include_patterns = worker.include
        self.include = pathspec.GitIgnoreSpec.from_lines(worker.include) if worker.include else None
        asks = [p for p in worker.include if any(k in p for k in _SOFT_KEYWORDS)]
        self.asks = pathspec.GitIgnoreSpec.from_lines(asks) if asks else None
        lines: list[str] = []
        self.origins: list[_Origin] = []
        for pattern in SOFT_EXCLUDES:
            lines.append(pattern)
            self.origins.append(_Origin("default exclude", pattern, soft=True))
        for pattern in worker.exclude:
            lines.append(pattern)
            self.origins.append(_Origin("exclude pattern", pattern))
        for number, line in enumerate(_read_ignore_file(Path(root, IGNORE_FILE)), start=1):
            lines.append(line)
            self.origins.append(_Origin(f"{IGNORE_FILE} line {number}", line))
        self.ignore = pathspec.GitIgnoreSpec.from_lines(lines)
        # Pruning a directory is only equivalent to testing each file below it when no later
        # "!" line could re-include one of them and no include pattern asks for a soft default.
        self.can_prune = self.asks is None and not any(
            line.strip().startswith("!") for line in lines
        )

    def why_excluded(self, rel: str) -> str | None:
        """None when ``rel`` ships, else the reason it does not (names the deciding pattern)."""
        hard = self.hard.check_file(rel)
        if hard.include and hard.index is not None:
            return f"default exclude '{HARD_EXCLUDES[hard.index]}'"
        if rel == IGNORE_FILE:
            return f"being the {IGNORE_FILE} file (never shipped)"
        if self.include is not None:
            inc = self.include.check_file(rel)
            if inc.include is None:
                return "no include pattern matching it"
            if not inc.include and inc.index is not None:
                return f"include pattern '{self.include_patterns[inc.index]}'"
        ign = self.ignore.check_file(rel)
        if ign.include and ign.index is not None:
            origin = self.origins[ign.index]
            if origin.soft and self.asks is not None and self.asks.match_file(rel):
                return None
            return str(origin)
        return None

    def prune(self, rel_dir: str) -> bool:
        """True when nothing under the directory ``rel_dir`` can ship (so it is not read)."""
        if self.hard.match_file(rel_dir + "/"):
            return True
        return self.can_prune and self.ignore.match_file(rel_dir + "/")


def _read_ignore_file(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise IronshipError(
            f"cannot read {path}: {exc}", hint=f"{IGNORE_FILE} must be a UTF-8 text file"
        ) from exc


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _outside_error(rel: str, link: str, target: str, root: str) -> IronshipError:
    return IronshipError(
        f"'{rel}' is a symlink to '{target}', outside the worker's root '{root}'",
        hint=f"exclude it (exclude: ['{rel}']), or replace the link '{link}' with a copy",
    )


def _walk(rules: _Rules, root: str) -> list[tuple[str, str]]:
    """Every shipped (relative path, absolute source) under root, in sorted order."""
    found: list[tuple[str, str]] = []

    # Loops are detected by (device, inode) of the directories on the current path.
    def visit(directory: str, prefix: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise IronshipError(
                f"cannot read directory '{prefix or '.'}' under '{root}': {exc.strerror or exc}",
                hint="fix its permissions, or exclude it",
            ) from exc
        for entry in entries:
            rel = unicodedata.normalize("NFC", prefix + entry.name)
            if entry.is_symlink():
                try:
                    info = os.stat(entry.path)
                except OSError as exc:
                    if rules.why_excluded(rel) is None:
                        raise IronshipError(
                            f"'{rel}' is a broken symlink", hint="fix or exclude it"
                        ) from exc
                    continue
                target = os.path.realpath(entry.path)
                if stat.S_ISDIR(info.st_mode):
                    if rules.prune(rel):
                        continue
                    if not _within(target, root):
                        raise _outside_error(rel + "/", entry.path, target, root)
                    key = (info.st_dev, info.st_ino)
                    if key not in ancestors:  # a link to an ancestor would loop forever
                        visit(entry.path, rel + "/", ancestors | {key})
                elif stat.S_ISREG(info.st_mode) and rules.why_excluded(rel) is None:
                    if not _within(target, root):
                        raise _outside_error(rel, entry.path, target, root)
                    found.append((rel, entry.path))
            elif entry.is_dir(follow_symlinks=False):
                if not rules.prune(rel):
                    info = entry.stat(follow_symlinks=False)
                    visit(entry.path, rel + "/", ancestors | {(info.st_dev, info.st_ino)})
            elif entry.is_file(follow_symlinks=False) and rules.why_excluded(rel) is None:
                found.append((rel, entry.path))

    top = os.stat(root)
    visit(root, "", frozenset({(top.st_dev, top.st_ino)}))
    return found


def hash_file(path: str | Path) -> tuple[str, int, bool]:
    """(sha256 hex, size, owner-exec bit) of a file, read in chunks, following symlinks."""
    with open(path, "rb") as f:
        executable = bool(os.fstat(f.fileno()).st_mode & stat.S_IXUSR)
        digest = hashlib.file_digest(f, "sha256")
        return digest.hexdigest(), f.tell(), executable


def _entry_path(worker: Worker) -> str:
    return unicodedata.normalize("NFC", PurePosixPath(worker.entry).as_posix())


def _entry_error(worker: Worker, rules: _Rules, root: str) -> IronshipError:
    entry = _entry_path(worker)
    source = Path(root, entry)
    if not source.exists():
        return IronshipError(
            f"entry '{entry}' of worker '{worker.name}' does not exist",
            hint=f"paths are relative to the worker's root '{root}'",
        )
    if not source.is_file():
        return IronshipError(
            f"entry '{entry}' of worker '{worker.name}' is not a file",
            hint="the entry is the file the runtime runs (the package's file_name)",
        )
    reason = rules.why_excluded(entry) or "being inside an excluded directory"
    return IronshipError(
        f"entry '{entry}' of worker '{worker.name}' is excluded by {reason}",
        hint=f"the entry must ship: change that pattern or add '!{entry}' after it",
    )


class Hasher(Protocol):
    def hash(self, source: str) -> tuple[str, int, bool]: ...


def select_files(worker: Worker, cache: Hasher | None = None) -> tuple[FileEntry, ...]:
    """The files the worker ships, sorted by path, with content hashes and exec bits.

    ``cache`` (a :class:`ironship.hashcache.HashCache`) skips re-reading unchanged files.
    """
    root = os.path.realpath(worker.root)
    if not os.path.isdir(root):
        raise IronshipError(
            f"root '{worker.root}' of worker '{worker.name}' is not a directory",
            hint="root is relative to the manifest's folder",
        )
    rules = _Rules(worker, root)
    entries: dict[str, FileEntry] = {}
    for rel, source in _walk(rules, root):
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise IronshipError(
                f"file name {rel!r} under '{root}' is not valid UTF-8",
                hint="rename it, or exclude it",
            ) from exc
        if rel in entries:  # two names that differ only in Unicode normalisation
            raise IronshipError(
                f"'{rel}' appears twice under '{root}' (names differing only in Unicode form)",
                hint="rename one of them",
            )
        try:
            sha, size, executable = cache.hash(source) if cache else hash_file(source)
        except OSError as exc:
            raise IronshipError(
                f"cannot read '{rel}': {exc.strerror or exc}",
                hint="if it changed while packaging, run again",
            ) from exc
        entries[rel] = FileEntry(rel, executable, sha, size, Path(source))
    if _entry_path(worker) not in entries:
        raise _entry_error(worker, rules, root)
    return tuple(entries[p] for p in sorted(entries))


def canonical_json(value: Any) -> str:
    """The one JSON spelling used for digests and the config string: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def upload_settings(worker: Worker) -> dict[str, Any]:
    """The ``data`` fields of an upload, without stamps; ``None`` values are left out.

    ``env_vars`` is always present (possibly empty); keys starting with ``IRONSHIP_`` are dropped
    because they are stamps, never settings (DESIGN "Upload settings and stamps").
    """
    settings: dict[str, Any] = {
        "name": worker.name,
        "runtime": worker.runtime,
        "file_name": _entry_path(worker),
        "config": canonical_json(worker.config) if worker.config is not None else None,
        "max_concurrency": worker.max_concurrency,
        "retries": worker.retries,
        "retries_delay": worker.retries_delay,
        "default_priority": worker.priority,
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    settings["env_vars"] = {
        k: v for k, v in sorted(worker.env.items()) if not k.startswith(STAMP_PREFIX)
    }
    return settings


def content_digest(
    files: Iterable[FileEntry] | Mapping[str, tuple[bool, str]], settings: Mapping[str, Any]
) -> str:
    """sha256 of the sorted (path, exec bit, content sha256) triples and the settings.

    ``files`` may also be a ``files_of_zip`` mapping (path -> (exec, sha256)), so a downloaded
    package can be digested the same way. Stamp keys in ``settings["env_vars"]`` are ignored.
    Never the zip bytes, mtimes or a git SHA (PEERS pain point 7).
    """
    if isinstance(files, Mapping):
        triples = [(p, bool(x), s) for p, (x, s) in files.items()]
    else:
        triples = [(f.path, f.executable, f.sha256) for f in files]
    clean = dict(settings)
    env = clean.get("env_vars")
    if isinstance(env, Mapping):
        clean["env_vars"] = {k: v for k, v in env.items() if not k.startswith(STAMP_PREFIX)}
    document = {
        "format": DIGEST_FORMAT,
        "files": [list(t) for t in sorted(triples)],
        "settings": clean,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def build_fileset(worker: Worker, cache: Hasher | None = None) -> FileSet:
    """Select and hash the worker's files and compute its content digest."""
    files = select_files(worker, cache)
    settings = upload_settings(worker)
    return FileSet(worker.name, worker.root, files, settings, content_digest(files, settings))
