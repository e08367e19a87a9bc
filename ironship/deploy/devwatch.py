"""What ``ironship dev`` watches, and the debounced batches of saved changes it acts on.

The scope is the manifest, every worker's root (its files, its requirements file and lock
files all live there: README "Workers with dependencies") and the secrets file. Folders are
watched one by one (not recursively), so a worker root's ``.git/``, ``.ironship/`` (the
engine's data, the build folders, the dependency cache), ``node_modules/`` or a virtualenv is
never descended into, and the manifest's own folder is watched for the manifest alone: an
editor that saves by writing a new file and renaming it over the old one is still seen, where
a watch on the file itself would be lost with the old inode. The waiting is ``watchfiles``'
(inotify on Linux); nothing here polls the files, unless ``WATCHFILES_FORCE_POLLING`` asks.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import watchfiles
from watchfiles._rust_notify import RustNotify

from ironship.errors import IronshipError
from ironship.manifest.models import Manifest

POLL_MS = 300  # between two looks at the folders, when polling is forced

# File times come from the kernel's coarse clock, a few milliseconds behind time.time().
MTIME_SLACK = 0.05

# Folders never watched nor acted on: version control, ironship's state, caches, and
# installed dependencies (their lock files and manifests are watched instead).
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".ironship",
        "__pycache__",
        "node_modules",
        ".venv",
        "venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
# Editor scratch files: vim's swap files and its write test "4913", backups ending in "~",
# emacs lock and autosave files, JetBrains' safe-write temporaries, macOS folder metadata,
# compiled Python.
_NOISE = re.compile(r"\.sw[a-px]$|~$|^\.#|^#.*#$|^4913$|___jb_(tmp|old)___$|^\.DS_Store$|\.py[co]$")


def is_noise(name: str) -> bool:
    """Whether a file named ``name`` is an editor's scratch file rather than a saved change."""
    return bool(_NOISE.search(name))


@dataclass(frozen=True)
class Debounce:
    """How saves are grouped: a batch ends once nothing changed for ``quiet_ms``, or
    ``max_ms`` after its first change, whichever comes first (watchfiles' step and debounce)."""

    quiet_ms: int = 80
    max_ms: int = 800


@dataclass(frozen=True)
class WatchScope:
    """The files whose changes start a round: the manifest, the workers' roots, other files
    the manifest reads (the secrets file). ``skip`` are folders never watched wherever they
    are (the engine's data folder given with ``--data``). All paths absolute."""

    manifest: Path
    roots: tuple[Path, ...] = ()
    files: tuple[Path, ...] = ()
    skip: tuple[Path, ...] = ()

    @classmethod
    def of(
        cls, manifest: Manifest, only: Sequence[str] = (), skip: Sequence[Path] = ()
    ) -> WatchScope:
        """The scope of a loaded manifest: of the workers named in ``only``, or of all."""
        workers = [w for w in manifest.workers if not only or w.name in only]
        roots = tuple(dict.fromkeys(w.root.resolve() for w in workers))
        env = manifest.environment
        secrets = env.secrets_file if env is not None else None
        files = (secrets.resolve(),) if secrets is not None else ()
        return cls(manifest.path.resolve(), roots, files, tuple(p.resolve() for p in skip))

    def directories(self) -> tuple[Path, ...]:
        """Every folder to watch (sorted): the manifest's and the secrets file's, and each
        worker root with its sub-folders, ignored ones left out (and ones that do not exist)."""
        found = {self.manifest.parent, *(f.parent for f in self.files)}
        for root in self.roots:
            found.update(_tree(root, self.skip))
        return tuple(sorted(d for d in found if d.is_dir()))

    def relevant(self, path: str | Path) -> bool:
        """Whether a change to ``path`` can change what is deployed."""
        p = Path(path)
        if p == self.manifest or p in self.files:
            return True
        if any(p.is_relative_to(s) for s in self.skip):
            return False
        for root in self.roots:
            if p == root:
                return True
            if p.is_relative_to(root):
                parts = p.relative_to(root).parts
                return not (set(parts) & IGNORED_DIRS) and not is_noise(parts[-1])
        return False

    def shown(self, path: str | Path) -> str:
        """``path`` as the status block names it: relative to the manifest's folder if under it."""
        p = Path(path)
        base = self.manifest.parent
        return p.relative_to(base).as_posix() if p.is_relative_to(base) else str(p)


def _tree(root: Path, skip: tuple[Path, ...]) -> list[Path]:
    """``root`` and its sub-folders, ignored and skipped folders (and what lies below them)
    left out."""
    if not root.is_dir() or any(root.is_relative_to(s) for s in skip):
        return []
    found = [root]
    for current, dirs, _ in os.walk(root):
        kept = (Path(current, d) for d in sorted(dirs) if d not in IGNORED_DIRS)
        below = [d for d in kept if d not in skip]
        dirs[:] = [d.name for d in below]
        found.extend(below)
    return found


def changes(
    scope: Callable[[], WatchScope],
    stop: threading.Event,
    debounce: Debounce = Debounce(),
    *,
    wake_ms: int = 300,
    on_ready: Callable[[], None] = lambda: None,
) -> Generator[tuple[str, ...], None, None]:
    """Yield the relevant paths of each batch of saved changes (sorted), until ``stop`` is set.

    ``on_ready`` is called once the watcher is in place: a save made after it is never
    missed. ``scope`` is asked again after each batch is handled (the round may have loaded a
    new manifest): when the folders to watch changed (a worker added, a folder created), a
    watcher on the new folders is started before the old one hands over what it saw
    meanwhile and is closed, so no save falls between the two; files saved in a new folder
    while the round ran count as saved. ``wake_ms`` bounds each wait
    of the watcher (it also looks at ``stop`` every ``debounce.quiet_ms``).
    """
    current = scope()
    watcher, folders = _open(current, stop)
    on_ready()
    pending: dict[str, set[int]] = {}
    try:
        while not stop.is_set():
            _collect(
                pending, current, watcher.watch(debounce.max_ms, debounce.quiet_ms, wake_ms, stop)
            )
            saved = _saved(pending)
            pending.clear()
            if not saved:
                continue
            since = time.time() - MTIME_SLACK
            yield saved
            current = scope()
            if current.directories() != folders:
                fresh, new_folders = _open(current, stop)
                # Files saved in a new folder while the round ran: the old watcher did not
                # watch that folder, and the new one started after them.
                for path in _saved_since(set(new_folders) - set(folders), since):
                    pending.setdefault(path, set()).add(watchfiles.Change.modified)
                folders = new_folders
                _collect(
                    pending, current, watcher.watch(debounce.max_ms, debounce.quiet_ms, 1, stop)
                )
                watcher.close()
                watcher = fresh
    finally:
        watcher.close()


def _saved_since(folders: set[Path], since: float) -> list[str]:
    """The files directly in ``folders`` modified at ``since`` or later (wall clock)."""
    found = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_mtime >= since:
                    found.append(entry.path)
            except OSError:
                continue
    return found


def _open(scope: WatchScope, stop: threading.Event) -> tuple[RustNotify, tuple[Path, ...]]:
    """A watcher (its thread started) on the scope's folders, and those folders. A folder
    that vanished between listing and watching is listed again."""
    while True:
        folders = scope.directories()
        try:
            watcher = RustNotify(
                [str(f) for f in folders], False, force_polling(), POLL_MS, False, False
            )
        except FileNotFoundError:
            if stop.wait(0.05):
                raise
            continue
        except (OSError, RuntimeError) as exc:  # RuntimeError: WatchfilesRustInternalError
            raise IronshipError(
                f"cannot watch the {len(folders)} folders of the project: {exc}",
                hint="raise the inotify limits (sysctl fs.inotify.max_user_watches and "
                "max_user_instances), or set WATCHFILES_FORCE_POLLING=1 to poll instead",
            ) from exc
        return watcher, folders


def force_polling(env: Mapping[str, str] | None = None) -> bool:
    """Whether to poll rather than ask the kernel: ``WATCHFILES_FORCE_POLLING`` set to
    anything but ``false``/``disable``/``disabled`` (watchfiles' own convention, for file
    systems without change notification, such as some network or container mounts)."""
    value = (os.environ if env is None else env).get("WATCHFILES_FORCE_POLLING", "")
    return value.strip().lower() not in ("", "false", "disable", "disabled")


def _collect(pending: dict[str, set[int]], scope: WatchScope, raw: object) -> None:
    """Add a watcher's answer to ``pending``: the relevant paths, each with its kinds of
    change. A second Ctrl-C ends the session at once (``cli/commands/dev.py``)."""
    if raw == "signal":
        raise KeyboardInterrupt
    if isinstance(raw, set):
        for change, path in raw:
            if scope.relevant(path):
                pending.setdefault(path, set()).add(change)


def _saved(pending: dict[str, set[int]]) -> tuple[str, ...]:
    """The paths of a batch, without the temporary files an editor or tool made and removed
    within it (``sed -i`` writes a new file and renames it over the old one)."""
    return tuple(
        sorted(
            path
            for path, seen in pending.items()
            if watchfiles.Change.added not in seen or os.path.lexists(path)
        )
    )
