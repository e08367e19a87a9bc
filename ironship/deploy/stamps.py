"""Stamps: the ``IRONSHIP_*`` env vars ironship writes on every upload it makes.

They say what was uploaded and from where, and are never settings: the planner ignores them
when it compares settings, and they never feed the content digest (see
docs/architecture.md, Stamps). Their values are computed in ``deploy/settings.py``. This
module imports nothing, so every layer may read the key names.
"""

from __future__ import annotations

STAMP_PREFIX = "IRONSHIP_"
DIGEST_KEY = "IRONSHIP_DIGEST"  # digest of the file set and the settings
FILES_KEY = "IRONSHIP_FILES"  # digest of the file set alone (settings excluded)
SMOKE_KEY = "IRONSHIP_SMOKE"  # digest of the worker's smoke tests
GIT_SHA_KEY = "IRONSHIP_GIT_SHA"
GIT_DIRTY_KEY = "IRONSHIP_GIT_DIRTY"


def git_stamps(sha: str | None, dirty: bool) -> dict[str, str]:
    """The git stamps of one upload; none when no commit describes the worker's files."""
    if sha is None:
        return {}
    return {GIT_SHA_KEY: sha, GIT_DIRTY_KEY: "1" if dirty else "0"}
