"""``ironship promote``: ship the exact revision tested in one environment to another."""

from __future__ import annotations

from ironship.errors import IronshipError


def promote() -> None:
    """Upload what one environment runs to another, byte for byte."""
    raise IronshipError("promote: being written")
