"""``environments:`` in ironship.yml: picking one, and laying its overlay over the file.

An environment has the shape of the file's top: its ``defaults`` are laid over the file's
``defaults`` and its ``workers.W`` over the file's ``workers.W``, key by key (``env`` key by
key inside that, like everywhere else), and only then do defaults fill a worker's unset
keys. So, for a worker's key, the first that sets it wins:
``environments.E.workers.W`` > ``workers.W`` > ``environments.E.defaults`` > ``defaults``
> the built-in default (README "Environments, variables and secrets").

The overlaid data remembers, for every key it took from the environment, where that key was
written, so that problems found in the result point at the environment's lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironship.errors import IronshipError
from ironship.manifest.defaults import MERGED_MAPPINGS
from ironship.manifest.yamlpos import Document, JsonPath, Problem

ENV_FLAG_HINT = "pick one with --env NAME (or IRONSHIP_ENV)"


def environment_names(data: Any) -> tuple[str, ...]:
    """The environments ``data`` declares, in file order (none when malformed)."""
    section = data.get("environments") if isinstance(data, Mapping) else None
    return tuple(section) if isinstance(section, Mapping) else ()


def select(names: tuple[str, ...], wanted: str | None, file: Path) -> str | None:
    """The environment to use: ``wanted`` when declared; an error when the choice is wrong."""
    listed = ", ".join(names)
    if wanted is None:
        if names:
            raise IronshipError(f"{file} declares environments {listed}: {ENV_FLAG_HINT}")
        return None
    if not names:
        raise IronshipError(
            f"--env {wanted}: {file} declares no environments",
            hint="add an 'environments:' section, or drop --env (and IRONSHIP_ENV)",
        )
    if wanted not in names:
        close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
        guess = f"did you mean '{close[0]}'? " if close else ""
        raise IronshipError(
            f"--env {wanted}: {file} declares no environment '{wanted}'",
            hint=f"{guess}environments declared: {listed}",
        )
    return wanted


@dataclass(frozen=True)
class Overlaid:
    """The file with one environment laid over it (no ``environments`` key left), and for
    each path taken from the environment, the path it was written at."""

    data: dict[str, Any]
    sources: Mapping[JsonPath, JsonPath]

    def source(self, path: JsonPath) -> JsonPath:
        """Where the value at ``path`` of ``data`` was written in the file."""
        for size in range(len(path), 0, -1):
            found = self.sources.get(path[:size])
            if found is not None:
                return (*found, *path[size:])
        return path


def overlay(data: Mapping[str, Any], name: str) -> Overlaid:
    """``data`` with environment ``name`` laid over it (see the module docstring)."""
    section = _mapping(_mapping(data.get("environments")).get(name))
    sources: dict[JsonPath, JsonPath] = {}
    out = {k: v for k, v in data.items() if k != "environments"}
    over_defaults = _mapping(section.get("defaults"))
    if over_defaults:
        at: JsonPath = ("environments", name, "defaults")
        out["defaults"] = _lay(data.get("defaults"), over_defaults, ("defaults",), at, sources)
    workers = data.get("workers")
    if isinstance(workers, Mapping):
        merged = dict(workers)
        for worker, over in _mapping(section.get("workers")).items():
            if worker in workers and isinstance(over, Mapping):
                written = ("environments", name, "workers", worker)
                merged[worker] = _lay(workers[worker], over, ("workers", worker), written, sources)
        out["workers"] = merged
    return Overlaid(out, sources)


def _lay(
    base: Any,
    over: Mapping[str, Any],
    here: JsonPath,
    where: JsonPath,
    sources: dict[JsonPath, JsonPath],
) -> Any:
    if not isinstance(base, Mapping):
        base = {}
    result = dict(base)
    for key, value in over.items():
        inner = base.get(key)
        if key in MERGED_MAPPINGS and isinstance(inner, Mapping) and isinstance(value, Mapping):
            result[key] = {**inner, **value}
            for name in value:
                sources[(*here, key, name)] = (*where, key, name)
        else:
            result[key] = value
            sources[(*here, key)] = (*where, key)
    return result


def effective_document(doc: Document, overlaid: Overlaid, data: Any) -> Document:
    """A Document of ``data`` (the overlaid data, perhaps masked) whose positions are those
    of the lines each value came from."""
    values, keys, raw, quoted = {}, {}, {}, set()
    for path in _paths(data, ()):
        src = overlaid.source(path)
        if src in doc.values:
            values[path] = doc.values[src]
        if src in doc.keys:
            keys[path] = doc.keys[src]
        if src in doc.raw:
            raw[path] = doc.raw[src]
        if src in doc.quoted:
            quoted.add(path)
    return Document(doc.file, data, values, keys, raw, quoted=frozenset(quoted))


def environment_problems(doc: Document) -> list[Problem]:
    """Overlays of workers the file does not declare (with a did-you-mean)."""
    data = doc.data if isinstance(doc.data, Mapping) else {}
    workers = list(_mapping(data.get("workers")))
    problems = []
    for env, section in _mapping(data.get("environments")).items():
        for name in _mapping(_mapping(section).get("workers")):
            if name in workers:
                continue
            path = ("environments", env, "workers", name)
            close = difflib.get_close_matches(name, workers, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else None
            hint = hint or f"workers: {', '.join(workers) or 'none'}"
            message = f"no worker named '{name}' in 'workers:'"
            problems.append(Problem(doc.at(path, key=True), path, message, hint))
    return problems


def _paths(value: Any, path: JsonPath) -> Iterator[JsonPath]:
    yield path
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*path, index))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
