"""``ironship show PLAN.json``: a saved plan as text, JSON or markdown."""

from __future__ import annotations

from ironship.errors import IronshipError


def show() -> None:
    """Render a saved plan file."""
    raise IronshipError("show: being written")
