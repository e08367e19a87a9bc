"""``ironship history``, ``rollback`` and ``diff``: deployed revisions, read from the server."""

from __future__ import annotations

from ironship.errors import IronshipError


def history() -> None:
    """List a worker's deployed revisions, newest first."""
    raise IronshipError("history: being written")


def rollback() -> None:
    """Upload an earlier revision again, as a new revision."""
    raise IronshipError("rollback: being written")


def diff() -> None:
    """Compare two deployed revisions, or a revision with the working tree."""
    raise IronshipError("diff: being written")
