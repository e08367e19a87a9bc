"""The manifest's JSON Schema (schemas/ironship.schema.json), wherever this install keeps it.

A wheel carries it as ``ironship/ironship.schema.json`` (pyproject's hatch ``force-include``);
a source checkout or an editable install reads it from ``schemas/`` next to the package. Both
are plain files, read without importlib.resources (a few ms of ``validate``, cli/quick.py);
an install that is not in plain folders is asked through it.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError

SCHEMA_NAME = "ironship.schema.json"


@functools.cache
def schema_text() -> str:
    """The schema exactly as shipped (what ``ironship schema`` prints)."""
    package = Path(__file__).resolve().parents[1]
    for place in (package / SCHEMA_NAME, package.parent / "schemas" / SCHEMA_NAME):
        try:
            return place.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
    from importlib import resources  # an install not in plain folders (a zip)

    packaged = resources.files("ironship").joinpath(SCHEMA_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    raise IronshipError(
        f"the manifest schema {SCHEMA_NAME} is missing from this install",
        hint="reinstall ironship",
    )


def load_schema() -> dict[str, Any]:
    """A fresh copy of the parsed schema (callers may change it)."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema()


def types_at(path: tuple[str | int, ...]) -> frozenset[str]:
    """The JSON types the schema allows at ``path`` of a manifest (empty: any, or unknown).

    Follows ``properties``, ``patternProperties``, ``additionalProperties``, ``items`` and
    local ``$ref``s; that is all the manifest schema uses on the way to a value.
    """
    schema = _schema()
    node: Any = schema
    for key in path:
        node = _deref(schema, node)
        node = _child(node, key)
        if not isinstance(node, dict):
            return frozenset()
    kind = _deref(schema, node).get("type")
    return frozenset([kind] if isinstance(kind, str) else kind or ())


def _deref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/$defs/"):
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _child(node: dict[str, Any], key: str | int) -> Any:
    if isinstance(key, int):
        return node.get("items")
    properties = node.get("properties", {})
    if key in properties:
        return properties[key]
    for pattern, sub in node.get("patternProperties", {}).items():
        if re.search(pattern, key):
            return sub
    return node.get("additionalProperties")
