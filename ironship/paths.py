"""Where ironship keeps its own state, defined once.

Everything ironship writes beside a manifest lives in ``.ironship/`` next to it: the local
engine's data (``.ironship/engine``) and the hash cache (``.ironship/cache``). The folder
carries a ``.gitignore`` of ``*`` (which also ignores that ``.gitignore``), so the folder never
shows in ``git status`` and needs no line in the project's own ``.gitignore``.
"""

from __future__ import annotations

from pathlib import Path

from ironship.errors import IronshipError

DEFAULT_MANIFEST = "ironship.yml"
STATE_DIR = ".ironship"


def state_dir(base: Path) -> Path:
    """``.ironship/`` beside the manifest (not created here)."""
    return base / STATE_DIR


def engine_dir(base: Path) -> Path:
    return state_dir(base) / "engine"


def daemon_dir(base: Path) -> Path:
    """The daemon's socket, its record and its log (ironship/daemon/)."""
    return state_dir(base) / "daemon"


def daemon_socket(base: Path) -> Path:
    return daemon_dir(base) / "socket"


def hash_cache_file(base: Path) -> Path:
    return state_dir(base) / "cache" / "hashes.bin"


def ensure_state_dir(base: Path) -> Path:
    """Create ``.ironship/`` (with its ``.gitignore``) and return it."""
    folder = state_dir(base)
    if folder.exists() and not folder.is_dir():
        raise IronshipError(
            f"{folder} is a file, but ironship keeps its local state in a folder of that name",
            hint=f"move {folder} away (ironship recreates it as a folder)",
        )
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# ironship's local state; written by ironship\n*\n", encoding="utf-8")
    return folder


def ensure_state_dir_of(engine_folder: Path) -> None:
    """When ``engine_folder`` lies directly in a ``.ironship/`` folder, give that its .gitignore.

    ``--data examples/.ironship/engine`` (as the README's ``ironship server`` example passes)
    must not leave a ``.ironship/`` that shows in ``git status``.
    """
    folder = engine_folder.resolve()
    if folder.parent.name == STATE_DIR:
        ensure_state_dir(folder.parent.parent)
