"""Which files a worker ships: the selection rules and the FileSet they produce.

Selection is deterministic: directories are read with ``os.scandir`` and sorted by name, paths
are POSIX, NFC-normalised and relative to the worker's root, so the same tree selects the same
files on any filesystem (``readdir`` order differs between filesystems).

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
bit matters, whatever the umask of the checkout.

Packaging knows nothing of upload settings or stamps: the digests that identify a deployed
package are computed in ``ironship/deploy/settings.py`` (docs/architecture.md, Stamps).
"""

from __future__ import annotations

import functools
import hashlib
import operator
import os
import re
import stat
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PosixPath, PurePosixPath
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pathspec

from ironship.errors import IronshipError
from ironship.manifest.models import Worker
from ironship.packaging.deps.model import Vendored

IGNORE_FILE = ".ironshipignore"
HARD_EXCLUDES = (".git", ".hg", ".svn", ".ironship/")
SOFT_EXCLUDES = ("__pycache__/", "*.pyc", ".DS_Store")
DEFAULT_EXCLUDES = HARD_EXCLUDES + SOFT_EXCLUDES
_SOFT_KEYWORDS = ("__pycache__", ".pyc", ".DS_Store")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a package: its place in the zip and what identifies its content."""

    path: str  # posix, relative to the worker's root, NFC-normalised
    executable: bool
    sha256: str  # hex
    size: int
    source: Path  # where to read it (under root; may be a symlink, which open() follows)


@dataclass(frozen=True)
class FileSet:
    """The files a worker ships, sorted by path.

    ``deps`` and ``runner`` are set by ``packaging/contents.select_package`` for a worker with
    dependencies: its vendored trees (their files are among ``files``) and the generated
    entry the upload runs instead of the worker's own, when one is needed.
    """

    worker: str
    root: Path
    files: tuple[FileEntry, ...]  # sorted by path
    deps: tuple[Vendored, ...] = ()
    runner: str | None = None

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

    def __init__(self, worker: Worker, root: str, replaced: tuple[str, ...] = ()) -> None:
        self.hard_patterns = HARD_EXCLUDES + tuple(f"/{p.lstrip('/')}" for p in replaced)
        self.include_patterns = worker.include
        self.include = _spec(tuple(worker.include)) if worker.include else None
        asks = [p for p in worker.include if any(k in p for k in _SOFT_KEYWORDS)]
        self.asks = _spec(tuple(asks)) if asks else None
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
        self.ignore_lines = tuple(lines)
        # Pruning a directory is only equivalent to testing each file below it when no later
        # "!" line could re-include one of them and no include pattern asks for a soft default.
        self.can_prune = self.asks is None and not any(
            line.strip().startswith("!") for line in lines
        )
        # The walk asks ``ships`` of every file: each list without a "!" line is one regular
        # expression (any match decides, so "last match wins" cannot differ), compiled once.
        self.hard_any = _any_of(self.hard_patterns)
        self.include_any = _any_of(tuple(worker.include)) if worker.include else None
        self.ignore_any = _any_of(tuple(lines)) if self.asks is None else None
        # Without include patterns, both exclude lists in one expression: one match a file.
        simple = self.include is None and self.ignore_any is not None
        self.out_any = _any_of(self.hard_patterns + tuple(lines)) if simple else None

    # The pattern lists as pathspec checks them, made when first needed: a worker with only
    # the default lists is selected through the expressions alone (see _any_of).
    @functools.cached_property
    def hard(self) -> pathspec.GitIgnoreSpec:
        return _spec(self.hard_patterns)

    @functools.cached_property
    def ignore(self) -> pathspec.GitIgnoreSpec:
        return _spec(self.ignore_lines)

    def ships(self, rel: str) -> bool:
        """``why_excluded(rel) is None``, through the compiled expressions when it can."""
        if self.out_any is not None:
            return rel != IGNORE_FILE and not self.out_any.match(rel)
        if self.hard_any is None or self.ignore_any is None:
            return self.why_excluded(rel) is None
        if self.hard_any.match(rel) or rel == IGNORE_FILE:
            return False
        if self.include is not None:
            if self.include_any is None:
                return self.why_excluded(rel) is None
            if not self.include_any.match(rel):
                return False
        return not self.ignore_any.match(rel)

    def why_excluded(self, rel: str) -> str | None:
        """None when ``rel`` ships, else the reason it does not (names the deciding pattern)."""
        hard = self.hard.check_file(rel)
        if hard.include and hard.index is not None:
            if hard.index >= len(HARD_EXCLUDES):
                return f"'{self.hard_patterns[hard.index]}' (the vendored dependencies replace it)"
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
        folder = rel_dir + "/"
        if self.hard_any.match(folder) if self.hard_any else self.hard.match_file(folder):
            return True
        if not self.can_prune:
            return False
        return bool(
            self.ignore_any.match(folder) if self.ignore_any else self.ignore.match_file(folder)
        )


_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z_0-9]*>")
_NEVER = re.compile(r"(?!)")


@functools.lru_cache(maxsize=256)
def _spec(lines: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    """The compiled pattern list; the workers of a monorepo mostly share theirs."""
    import pathspec  # a few ms: not for workers that only have the default lists

    return pathspec.GitIgnoreSpec.from_lines(lines)


# pathspec's expression for each default pattern, its directory-marker group made plain: a
# worker whose lists are only the defaults is selected without loading pathspec (a good part
# of `ironship validate`'s start, cli/quick.py). tests/packaging/test_selection_fast.py
# checks each against what pathspec itself builds.
_DEFAULT_EXPRESSIONS = {
    ".git": r"^(?:.+/)?\.git(?:(?:/)|$)",
    ".hg": r"^(?:.+/)?\.hg(?:(?:/)|$)",
    ".svn": r"^(?:.+/)?\.svn(?:(?:/)|$)",
    ".ironship/": r"^(?:.+/)?\.ironship(?:/)",
    "__pycache__/": r"^(?:.+/)?__pycache__(?:/)",
    "*.pyc": r"^(?:.+/)?[^/]*\.pyc(?:(?:/)|$)",
    ".DS_Store": r"^(?:.+/)?\.DS_Store(?:(?:/)|$)",
}


def pattern_expressions(lines: tuple[str, ...]) -> list[str] | None:
    """Each pattern's anchored expression (blank and comment lines left out), or None when a
    pattern negates or is not anchored."""
    if all(line in _DEFAULT_EXPRESSIONS for line in lines):
        return [_DEFAULT_EXPRESSIONS[line] for line in lines]
    parts = []
    for pattern in _spec(lines).patterns:
        if pattern.include is None or pattern.regex is None:
            continue  # a blank or comment line
        text = pattern.regex.pattern
        if not pattern.include or not isinstance(text, str) or not text.startswith("^"):
            return None  # pathspec searches; anchored expressions let one match() stand in
        # pathspec names its directory-marker group; names may not repeat in one expression.
        parts.append(_NAMED_GROUP.sub("(?:", text))
    return parts


@functools.lru_cache(maxsize=256)
def _any_of(lines: tuple[str, ...]) -> re.Pattern[str] | None:
    """One expression matching what any pattern of ``lines`` matches, or None when a pattern
    negates (then the last matching one decides, which needs pathspec's own check)."""
    parts = pattern_expressions(lines)
    if parts is None:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else _NEVER


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


_NAME = operator.attrgetter("name")

DirKey = tuple[int, int]  # (device, inode): loops are detected by the directories on the path


class _Walker:
    """Every shipped (relative path, absolute source) under root, in sorted order."""

    def __init__(self, rules: _Rules, root: str) -> None:
        self.rules = rules
        self.root = root
        self.found: list[tuple[str, str]] = []

    def walk(self) -> list[tuple[str, str]]:
        top = os.stat(self.root)
        self._visit(self.root, "", frozenset({(top.st_dev, top.st_ino)}))
        return self.found

    def _visit(self, directory: str, prefix: str, ancestors: frozenset[DirKey]) -> None:
        ships, found = self.rules.ships, self.found
        for entry in self._entries(directory, prefix):
            name = entry.name
            # prefix is NFC and ends with "/": an ASCII name cannot change its normal form
            rel = prefix + name if name.isascii() else unicodedata.normalize("NFC", prefix + name)
            # Regular files first: the common case costs one test (a symlink is neither a
            # file nor a folder when not followed).
            if entry.is_file(follow_symlinks=False):
                if ships(rel):
                    found.append((rel, entry.path))
            elif entry.is_dir(follow_symlinks=False):
                if not self.rules.prune(rel):
                    info = entry.stat(follow_symlinks=False)
                    self._visit(entry.path, rel + "/", ancestors | {(info.st_dev, info.st_ino)})
            elif entry.is_symlink():
                self._link(entry.path, rel, ancestors)

    def _entries(self, directory: str, prefix: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as it:
                return sorted(it, key=_NAME)
        except OSError as exc:
            raise IronshipError(
                f"cannot read directory '{prefix or '.'}' under '{self.root}': "
                f"{exc.strerror or exc}",
                hint="fix its permissions, or exclude it",
            ) from exc

    def _link(self, path: str, rel: str, ancestors: frozenset[DirKey]) -> None:
        """A symlink: followed when it stays inside root, an error when it ships from outside."""
        try:
            info = os.stat(path)
        except OSError as exc:
            if self.rules.ships(rel):
                raise IronshipError(
                    f"'{rel}' is a broken symlink", hint="fix or exclude it"
                ) from exc
            return
        target = os.path.realpath(path)
        if stat.S_ISDIR(info.st_mode):
            if self.rules.prune(rel):
                return
            if not _within(target, self.root):
                raise _outside_error(rel + "/", path, target, self.root)
            key = (info.st_dev, info.st_ino)
            if key not in ancestors:  # a link to an ancestor would loop forever
                self._visit(path, rel + "/", ancestors | {key})
        elif stat.S_ISREG(info.st_mode) and self.rules.ships(rel):
            if not _within(target, self.root):
                raise _outside_error(rel, path, target, self.root)
            self.found.append((rel, path))


def _parsed_parts() -> Callable[[str, str, list[str]], Path] | None:
    if sys.version_info >= (3, 12) or os.sep != "/":
        return None  # 3.12 parses a Path only when asked: Path(str) is cheap there
    made: Callable[[str, str, list[str]], Path] | None = getattr(
        PosixPath, "_from_parsed_parts", None
    )
    return made


_FROM_PARTS = _parsed_parts()


class _Paths:
    """``Path(source)`` for normalised absolute paths (a realpath joined with names read from
    directories). On Python 3.11, built from the parts of its folder, split once per folder
    and shared by its files: a tenth of the time and a fraction of the memory of parsing each
    path again, which matters once per file of a monorepo."""

    def __init__(self) -> None:
        self.folders: dict[str, list[str]] = {}

    def __call__(self, source: str) -> Path:
        if _FROM_PARTS is None:
            return Path(source)
        folder, _, name = source.rpartition("/")
        parts = self.folders.get(folder)
        if parts is None:
            parts = self.folders[folder] = ["/", *folder.split("/")[1:]] if folder else ["/"]
        return _FROM_PARTS("", "/", [*parts, name])


READ_CHUNK = 1 << 20


def hash_file(path: str | Path) -> tuple[str, int, bool]:
    """(sha256 hex, size, owner-exec bit) of a file, read in chunks, following symlinks.

    Plain ``os.read`` calls in chunks of at most 1 MiB (one call for a file that fits,
    sized to it): no buffered file object per file, and both the reads and hashlib's updates
    of more than 2 KiB release the GIL, so threads hashing different files run in parallel.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        digest = hashlib.sha256()
        size = 0
        want = min(READ_CHUNK, info.st_size + 1)  # +1: a file that grew is still read whole
        while chunk := os.read(fd, want):
            digest.update(chunk)
            size += len(chunk)
            want = READ_CHUNK
        return digest.hexdigest(), size, bool(info.st_mode & stat.S_IXUSR)
    finally:
        os.close(fd)


def _entry_path(worker: Worker) -> str:
    """The entry as a package path; ``deploy.settings.file_name`` uploads the same spelling."""
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


def file_sources(worker: Worker, *, replaced: tuple[str, ...] = ()) -> list[str]:
    """The paths ``select_files`` would hash, without hashing (to read them ahead)."""
    root = os.path.realpath(worker.root)
    return [source for _, source in _Walker(_Rules(worker, root, replaced), root).walk()]


class Hasher(Protocol):
    def hash(self, source: str) -> tuple[str, int, bool]: ...


def select_files(
    worker: Worker, cache: Hasher | None = None, *, replaced: tuple[str, ...] = ()
) -> tuple[FileEntry, ...]:
    """The files the worker ships, sorted by path, with content hashes and exec bits.

    ``cache`` (a :class:`ironship.packaging.hashcache.HashCache`) skips re-reading unchanged
    files. ``replaced`` names folders of the root (``node_modules/``) that vendored
    dependencies stand in for: they are never read.
    """
    root = os.path.realpath(worker.root)
    if not os.path.isdir(root):
        raise IronshipError(
            f"root '{worker.root}' of worker '{worker.name}' is not a directory",
            hint="root is relative to the manifest's folder",
        )
    rules = _Rules(worker, root, replaced)
    entries: dict[str, FileEntry] = {}
    as_path = _Paths()
    read = cache.hash if cache else hash_file
    for rel, source in _Walker(rules, root).walk():
        if not rel.isascii():
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
            sha, size, executable = read(source)
        except OSError as exc:
            raise IronshipError(
                f"cannot read '{rel}': {exc.strerror or exc}",
                hint="if it changed while packaging, run again",
            ) from exc
        entries[rel] = FileEntry(rel, executable, sha, size, as_path(source))
    if _entry_path(worker) not in entries:
        raise _entry_error(worker, rules, root)
    return tuple(entries[p] for p in sorted(entries))


def select_fileset(worker: Worker, cache: Hasher | None = None) -> FileSet:
    """Select and hash the worker's files."""
    files = select_files(worker, cache)
    return FileSet(worker.name, worker.root, files)
