"""The manifest's JSON Schema (schemas/ironship.schema.json), wherever this install keeps it.

A wheel carries it as ``ironship/ironship.schema.json`` (pyproject's hatch ``force-include``);
a source checkout or an editable install reads it from ``schemas/`` next to the package.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError

SCHEMA_NAME = "ironship.schema.json"


@functools.cache
def schema_text() -> str:
    """The schema exactly as shipped (what ``ironship schema`` prints)."""
    packaged = resources.files("ironship").joinpath(SCHEMA_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    in_repo = Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME
    try:
        return in_repo.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IronshipError(
            f"the manifest schema {SCHEMA_NAME} is missing from this install",
            hint="reinstall ironship",
        ) from None


def load_schema() -> dict[str, Any]:
    """A fresh copy of the parsed schema (callers may change it)."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema
