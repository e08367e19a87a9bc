"""JSON Schemas written in ironship.yml (a smoke test's ``output.schema``): ``$ref`` resolves
only inside the schema itself.

A remote ``$ref`` would make a test depend on (and leak to) whatever host it names, so the
registry given to the validator refuses every URI it does not already hold
(https://referencing.readthedocs.io/en/stable/api/#referencing.Registry). ``unresolved_refs``
finds the refs that cannot resolve, for ``validate`` to report at their place.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

JsonPath = tuple[str | int, ...]
_BASE = "urn:ironship:smoke-schema"
_REF_KEYS = ("$ref", "$dynamicRef")


def _refuse(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs: the field is ``ref``


def local_registry(schema: Any) -> Registry[Any]:
    """A registry holding ``schema`` alone (under its own ``$id`` too) and fetching nothing."""
    resource = DRAFT202012.create_resource(schema)
    registry: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]
    local: Registry[Any] = registry.with_resource(_BASE, resource)
    return local


def unresolved_refs(schema: Any) -> list[tuple[JsonPath, str, str]]:
    """(path of the ``$ref`` value, the ref, why) for each ref that does not resolve locally."""
    registry = local_registry(schema)
    resolver = registry.resolver(base_uri=_BASE)
    problems = []
    for path, ref, here in _refs(schema, (), resolver):
        try:
            here.lookup(ref)
        except Unresolvable as exc:
            problems.append((path, ref, _why(ref, exc)))
    return problems


def _refs(node: Any, path: JsonPath, resolver: Any) -> Iterator[tuple[JsonPath, str, Any]]:
    if isinstance(node, Mapping):
        if isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        for key, value in node.items():
            if key in _REF_KEYS and isinstance(value, str):
                yield (*path, key), value, resolver
            else:
                yield from _refs(value, (*path, key), resolver)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, (*path, index), resolver)


def _why(ref: str, exc: Unresolvable) -> str:
    if isinstance(exc, NoSuchResource) or ref.split("#")[0]:
        return "it points outside the schema; only refs within it (#/$defs/…) are resolved"
    return "nothing in the schema is at that place"
