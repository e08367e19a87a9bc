"""``ironship config``: the fully resolved manifest and where each value came from."""

from __future__ import annotations

from ironship.errors import IronshipError


def config() -> None:
    """Print the resolved manifest with the origin of each value; secrets masked."""
    raise IronshipError("config: being written")
