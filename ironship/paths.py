"""Where ironship keeps its own state, defined once.

Everything ironship writes beside a manifest lives in ``.ironship/`` next to it: the local
engine's data (``.ironship/engine``) and the hash cache (``.ironship/cache``). The folder
carries a ``.gitignore`` of ``*`` so it never shows in ``git status``.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MANIFEST = "ironship.yml"
STATE_DIR = ".ironship"


def state_dir(base: Path) -> Path:
    """``.ironship/`` beside the manifest (not created here)."""
    return base / STATE_DIR


def engine_dir(base: Path) -> Path:
    return state_dir(base) / "engine"


def hash_cache_file(base: Path) -> Path:
    return state_dir(base) / "cache" / "hashes.json"


def ensure_state_dir(base: Path) -> Path:
    """Create ``.ironship/`` (with its ``.gitignore``) and return it."""
    folder = state_dir(base)
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# ironship's local state; written by ironship\n*\n", encoding="utf-8")
    return folder
